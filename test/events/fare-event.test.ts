import { describe, expect, it } from 'vitest';
import {
  dayStartMs,
  canonicalContent,
  daysBeforeDeparture,
  FareEventInput,
  idempotencyKeyOf,
  isCalendarDate,
  seriesKeyOf,
  type FareEvent,
} from '../../src/events/fare-event.js';
import { fareEvent, type FareEventBody } from '../helpers/events.js';

/** Parses and returns the event, failing the test with the issues if it is rejected. */
function accept(overrides: FareEventBody): FareEvent {
  const result = FareEventInput.safeParse(fareEvent(overrides));
  if (!result.success) throw new Error(`expected acceptance, got ${JSON.stringify(result.error.issues)}`);
  return result.data;
}

/** Parses and returns the issues as `path: message` strings; fails the test if accepted. */
function reject(overrides: FareEventBody): string[] {
  const result = FareEventInput.safeParse(fareEvent(overrides));
  if (result.success) throw new Error(`expected rejection of ${JSON.stringify(overrides)}, got ${JSON.stringify(result.data)}`);
  return result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('FareEventInput', () => {
  it('accepts the base event unchanged except for the normalised observedAt', () => {
    expect(accept({})).toEqual({
      origin: 'BCN',
      destination: 'BUD',
      departureDate: '2016-04-20',
      observedAt: '2016-04-01T09:00:00.000Z',
      price: 69.99,
      currency: 'EUR',
      carrier: 'W6',
      flightNumbers: ['2376'],
    });
  });

  it('names a missing field as required, and a null one as of the wrong type', () => {
    const required = ['origin', 'destination', 'departureDate', 'observedAt', 'price', 'currency'] as const;
    const { issues } = FareEventInput.safeParse({}).error!;
    expect(issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual(
      required.map((field) => `${field}: ${field} is required`),
    );
    expect(reject({ currency: null as unknown as string })).toEqual(['currency: currency must be a string']);
    expect(reject({ price: null as unknown as number })).toEqual(['price: price must be a number']);
  });

  describe('airport codes', () => {
    it.each(['BC', 'BCNN', 'B1N', '', 'BÇN'])('rejects origin %j', (origin) => {
      expect(reject({ origin })).toEqual(['origin: origin must be a 3-letter IATA airport code']);
    });

    it.each(['BU', 'BUDA', '123'])('rejects destination %j', (destination) => {
      expect(reject({ destination })).toEqual(['destination: destination must be a 3-letter IATA airport code']);
    });

    it('rejects a code that is not a string', () => {
      expect(reject({ origin: 123 })).toEqual(['origin: origin must be a string']);
    });

    it('accepts lower-case codes and upper-cases them', () => {
      const event = accept({ origin: 'bcn', destination: 'bUd' });
      expect(event.origin).toBe('BCN');
      expect(event.destination).toBe('BUD');
    });

    it('requires destination to differ from origin, also across case', () => {
      expect(reject({ origin: 'BCN', destination: 'BCN' })).toEqual(['destination: destination must differ from origin']);
      expect(reject({ origin: 'bcn', destination: 'BCN' })).toEqual(['destination: destination must differ from origin']);
    });

    it('requires both codes', () => {
      expect(reject({ origin: undefined })).toEqual(['origin: origin is required']);
      expect(reject({ destination: undefined })).toEqual(['destination: destination is required']);
    });
  });

  describe('departureDate', () => {
    it('accepts 29 February of a leap year', () => {
      expect(accept({ departureDate: '2016-02-29', observedAt: '2016-02-01T00:00:00Z' }).departureDate).toBe('2016-02-29');
    });

    it.each(['2016-02-30', '2015-02-29', '2016-04-31', '2016-13-01', '2016-00-10', '2016-4-20', '20160420', '2016-04-20T00:00:00Z', ''])(
      'rejects %j',
      (departureDate) => {
        expect(reject({ departureDate, observedAt: '2016-01-01T00:00:00Z' })).toEqual([
          'departureDate: departureDate must be a real calendar date as YYYY-MM-DD',
        ]);
      },
    );

    it('isCalendarDate tells real days from impossible ones', () => {
      expect(isCalendarDate('2016-02-29')).toBe(true);
      expect(isCalendarDate('2000-02-29')).toBe(true);
      expect(isCalendarDate('1900-02-29')).toBe(false);
      expect(isCalendarDate('2016-12-31')).toBe(true);
      expect(isCalendarDate('2016-12-32')).toBe(false);
    });
  });

  describe('observedAt', () => {
    const zoneMessage = 'observedAt: observedAt must be an ISO 8601 date-time with a zone, e.g. 2016-04-01T09:00:00Z';

    it.each(['2016-04-01T09:00:00', '2016-04-01 09:00:00Z', '2016-04-01', 'yesterday', '1459501200000', '2016-04-01T25:00:00Z', ''])(
      'rejects %j',
      (observedAt) => {
        expect(reject({ observedAt })).toEqual([zoneMessage]);
      },
    );

    it('rejects a date-time on a day that does not exist instead of rolling it over', () => {
      expect(reject({ observedAt: '2016-02-30T10:00:00Z' })).toEqual([zoneMessage]);
      expect(reject({ observedAt: '2016-04-31T10:00:00Z' })).toEqual([zoneMessage]);
    });

    it('rejects a number', () => {
      expect(reject({ observedAt: 1459501200000 })).toEqual(['observedAt: observedAt must be a string']);
    });

    it('accepts an offset and normalises it to UTC', () => {
      expect(accept({ observedAt: '2016-04-01T09:00:00+02:00' }).observedAt).toBe('2016-04-01T07:00:00.000Z');
      expect(accept({ observedAt: '2016-04-01T09:00:00-05:30' }).observedAt).toBe('2016-04-01T14:30:00.000Z');
    });

    it('accepts fractional seconds and minutes-only times', () => {
      expect(accept({ observedAt: '2016-04-01T09:00:00.123Z' }).observedAt).toBe('2016-04-01T09:00:00.123Z');
      expect(accept({ observedAt: '2016-04-01T09:05Z' }).observedAt).toBe('2016-04-01T09:05:00.000Z');
    });

    it('accepts an observation up to the last minute of the departure date (UTC)', () => {
      expect(accept({ observedAt: '2016-04-20T23:59:00Z' }).observedAt).toBe('2016-04-20T23:59:00.000Z');
      expect(accept({ observedAt: '2016-04-20T23:59:59.999Z' }).observedAt).toBe('2016-04-20T23:59:59.999Z');
    });

    it('rejects an observation from after the departure date', () => {
      const message = 'observedAt: observedAt must not be later than the end of the departure date';
      expect(reject({ observedAt: '2016-04-21T00:00:00Z' })).toEqual([message]);
      expect(reject({ observedAt: '2016-05-01T12:00:00Z' })).toEqual([message]);
      // 01:00 the next day at +02:00 is 23:00Z on the departure date: still in time.
      expect(accept({ observedAt: '2016-04-21T01:00:00+02:00' }).observedAt).toBe('2016-04-20T23:00:00.000Z');
      // 23:30 at -01:00 is 00:30Z the next day: too late.
      expect(reject({ observedAt: '2016-04-20T23:30:00-01:00' })).toEqual([message]);
    });

    it('compares the dates beside issues of other fields, never beside an issue of a date', () => {
      const late = 'observedAt: observedAt must not be later than the end of the departure date';
      expect(reject({ observedAt: '2016-04-21T00:00:00Z', price: -1 })).toEqual([
        'price: price must be above 0 and below 10,000,000',
        late,
      ]);
      expect(reject({ observedAt: '2016-04-21T00:00:00Z', departureDate: '2016-02-30' })).toEqual([
        'departureDate: departureDate must be a real calendar date as YYYY-MM-DD',
      ]);
    });
  });

  describe('price', () => {
    it.each([0.01, 1, 69.99, 9_999_999.99])('accepts %d', (price) => {
      expect(accept({ price }).price).toBe(price);
    });

    it.each([0, -1, -0.01, 10_000_000, 1e12])('rejects %d as out of range', (price) => {
      expect(reject({ price })).toEqual(['price: price must be above 0 and below 10,000,000']);
    });

    it.each([Infinity, -Infinity, NaN])('rejects the non-finite %d', (price) => {
      const issues = reject({ price });
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatch(/^price: price must be a (finite )?number$/);
    });

    it.each(['69.99', null, true])('rejects the non-number %j', (price) => {
      expect(reject({ price })).toEqual(['price: price must be a number']);
    });

    it('is required', () => {
      expect(reject({ price: undefined })).toEqual(['price: price is required']);
    });
  });

  describe('currency', () => {
    it.each(['EUR', 'HUF', 'PLN', 'GBP', 'USD'])('accepts %s', (currency) => {
      expect(accept({ currency }).currency).toBe(currency);
    });

    it.each(['eur', 'EURO', 'EU', 'XYZ', '€', ''])('rejects %j', (currency) => {
      expect(reject({ currency })).toEqual(['currency: currency must be an ISO 4217 code in upper case, e.g. EUR']);
    });
  });

  describe('carrier and flightNumbers', () => {
    it('are optional', () => {
      const event = accept({ carrier: undefined, flightNumbers: undefined });
      expect(event).not.toHaveProperty('carrier');
      expect(event).not.toHaveProperty('flightNumbers');
    });

    it('reject malformed values', () => {
      expect(reject({ carrier: 'W' })).toEqual(['carrier: carrier must be a 2- or 3-character airline code']);
      expect(reject({ carrier: 'WIZZ' })).toEqual(['carrier: carrier must be a 2- or 3-character airline code']);
      expect(reject({ flightNumbers: ['23 76'] })).toEqual(['flightNumbers.0: each flight number must be 1 to 8 letters or digits']);
      expect(reject({ flightNumbers: ['1', ''] })).toEqual(['flightNumbers.1: each flight number must be 1 to 8 letters or digits']);
      expect(reject({ flightNumbers: Array.from({ length: 17 }, (_, i) => String(i)) })).toEqual([
        'flightNumbers: at most 16 flight numbers',
      ]);
    });

    it('accept several flight numbers for connecting flights', () => {
      expect(accept({ flightNumbers: ['2376', '2377'] }).flightNumbers).toEqual(['2376', '2377']);
    });
  });

  describe('unknown fields and id', () => {
    it('rejects unknown fields, naming them', () => {
      expect(reject({ foo: 1 })).toEqual([': unknown field(s): foo']);
      expect(reject({ Price: 1, seriesId: 'x' })).toEqual([': unknown field(s): Price, seriesId']);
    });

    it('accepts an id of 1 to 128 characters', () => {
      expect(accept({ id: 'a' }).id).toBe('a');
      expect(accept({ id: 'x'.repeat(128) }).id).toHaveLength(128);
    });

    it('rejects an empty id and one over 128 characters', () => {
      expect(reject({ id: '' })).toEqual(['id: id must not be empty']);
      expect(reject({ id: 'x'.repeat(129) })).toEqual(['id: id must be at most 128 characters']);
    });

    it('reports every problem of one event at once', () => {
      const issues = reject({ origin: 'B', price: -1, currency: 'eur' });
      expect(issues).toHaveLength(3);
      expect(issues.map((i) => i.split(':')[0]).sort()).toEqual(['currency', 'origin', 'price']);
    });
  });
});

describe('keys of a fare event', () => {
  it('seriesKeyOf joins route and departure date', () => {
    expect(seriesKeyOf(accept({ origin: 'bcn' }))).toBe('BCN-BUD-2016-04-20');
  });

  it('idempotencyKeyOf uses the client id when given, else observedAt and series', () => {
    expect(idempotencyKeyOf(accept({ id: 'abc' }))).toBe('id:abc');
    const derived = idempotencyKeyOf(accept({ observedAt: '2016-04-01T11:00:00+02:00' }));
    expect(derived).toBe('2016-04-01T09:00:00.000Z@BCN-BUD-2016-04-20');
    // The same instant written in another zone is the same observation.
    expect(idempotencyKeyOf(accept({}))).toBe(derived);
  });

  it('canonicalContent differs when any field differs and not when only the zone notation does', () => {
    const base = canonicalContent(accept({}));
    expect(canonicalContent(accept({ observedAt: '2016-04-01T11:00:00+02:00' }))).toBe(base);
    expect(canonicalContent(accept({ price: 70 }))).not.toBe(base);
    expect(canonicalContent(accept({ carrier: undefined }))).not.toBe(base);
    expect(canonicalContent(accept({ flightNumbers: ['2377'] }))).not.toBe(base);
  });

  it('daysBeforeDeparture counts UTC days, 0 on the day itself', () => {
    expect(daysBeforeDeparture(accept({ observedAt: '2016-04-20T23:59:00Z' }))).toBe(0);
    expect(daysBeforeDeparture(accept({ observedAt: '2016-04-19T23:59:00Z' }))).toBe(1);
    expect(daysBeforeDeparture(accept({ observedAt: '2016-04-01T00:00:00Z' }))).toBe(19);
  });
});

describe('calendar dates and times', () => {
  it('isCalendarDate agrees with the Gregorian calendar, leap years included', () => {
    for (const date of ['2016-02-29', '2000-02-29', '2015-12-31', '2016-01-01', '0100-01-01']) expect(isCalendarDate(date), date).toBe(true);
    for (const date of ['2015-02-29', '1900-02-29', '2016-04-31', '2016-13-01', '2016-00-10', '2016-01-00', '0099-01-01', '2016-1-01', '2016/01/01', '2016-01-01 ', '20160101xx']) {
      expect(isCalendarDate(date), date).toBe(false);
    }
    // The same answer as a round trip through Date, for every day of four years and some that do not exist.
    for (let year = 2015; year <= 2018; year++) {
      for (let month = 1; month <= 12; month++) {
        for (let day = 1; day <= 31; day++) {
          const text = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
          const viaDate = new Date(`${text}T00:00:00Z`).toISOString().slice(0, 10) === text;
          expect(isCalendarDate(text), text).toBe(viaDate);
        }
      }
    }
  });

  it('dayStartMs is midnight UTC of the day', () => {
    expect(dayStartMs('2016-04-20')).toBe(Date.parse('2016-04-20T00:00:00Z'));
    expect(dayStartMs('2016-02-29')).toBe(Date.parse('2016-02-29T00:00:00Z'));
  });

  it('normalises observedAt to UTC with milliseconds, keeping canonical values as they are', () => {
    expect(accept({ observedAt: '2016-04-01T09:00:00.000Z' }).observedAt).toBe('2016-04-01T09:00:00.000Z');
    expect(accept({ observedAt: '2016-04-01T09:00:00Z' }).observedAt).toBe('2016-04-01T09:00:00.000Z');
    expect(accept({ observedAt: '2016-04-01T09:00:00.000z' }).observedAt).toBe('2016-04-01T09:00:00.000Z');
    expect(accept({ observedAt: '2016-04-01T11:00:00.000+02:00' }).observedAt).toBe('2016-04-01T09:00:00.000Z');
    // Hour 24 is the next day's midnight: its key must be the same as that of 00:00.
    expect(accept({ observedAt: '2016-03-31T24:00:00.000Z' }).observedAt).toBe('2016-04-01T00:00:00.000Z');
  });
});
