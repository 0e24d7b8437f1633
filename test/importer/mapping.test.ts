import { describe, expect, it } from 'vitest';
import {
  firstValue,
  mapRow,
  MappingError,
  normaliseObservedAt,
  resolveMapping,
  splitValues,
  type ColumnMapping,
} from '../../src/importer/mapping.js';

const WIZZ_HEADER =
  'series_id,origin,destination,departure_date,search_date,search_ts_ms,days_before,price_local,currency,price_eur_approx,n_flights_that_day,carrier,flight_numbers,std,sta'.split(
    ',',
  );
const wizzRow = (overrides: Record<string, string> = {}): string[] => {
  const base: Record<string, string> = {
    series_id: 'CRL-OTP-2016-01-20',
    origin: 'CRL',
    destination: 'OTP',
    departure_date: '2016-01-20',
    search_date: '2016-01-10',
    search_ts_ms: '1452416400406',
    days_before: '10',
    price_local: '59.99',
    currency: 'EUR',
    price_eur_approx: '59.99',
    n_flights_that_day: '1',
    carrier: 'W6',
    flight_numbers: '3002',
    std: '06:20',
    sta: '10:20',
    ...overrides,
  };
  return WIZZ_HEADER.map((name) => base[name]);
};

const EXPEDIA_HEADER = [
  'legId',
  'searchDate',
  'flightDate',
  'startingAirport',
  'destinationAirport',
  'baseFare',
  'totalFare',
  'segmentsAirlineCode',
];
const EXPEDIA_FLAGS: Partial<ColumnMapping> = {
  origin: 'startingAirport',
  destination: 'destinationAirport',
  departureDate: 'flightDate',
  observedAt: 'searchDate',
  price: 'totalFare',
  currencyValue: 'USD',
  carrier: 'segmentsAirlineCode',
  id: 'legId',
};
const expediaRow = (overrides: Partial<Record<(typeof EXPEDIA_HEADER)[number], string>> = {}): string[] => {
  const base: Record<string, string> = {
    legId: '9ca0e81111c683bec1012473feefd28f',
    searchDate: '2022-04-16',
    flightDate: '2022-04-18',
    startingAirport: 'DEN',
    destinationAirport: 'BOS',
    baseFare: '278.14',
    totalFare: '322.6',
    segmentsAirlineCode: 'UA||UA',
    ...overrides,
  };
  return EXPEDIA_HEADER.map((name) => base[name]);
};

describe('mapRow with the default (Wizz) mapping', () => {
  const wizz = resolveMapping(WIZZ_HEADER);

  it('maps a row to the fare event the API would store', () => {
    expect(mapRow(wizzRow(), wizz)).toEqual({
      event: {
        origin: 'CRL',
        destination: 'OTP',
        departureDate: '2016-01-20',
        observedAt: new Date(1452416400406).toISOString(),
        price: 59.99,
        currency: 'EUR',
        carrier: 'W6',
        flightNumbers: ['3002'],
      },
    });
  });

  it('splits flight numbers on spaces and semicolons', () => {
    expect(mapRow(wizzRow({ flight_numbers: '3001;3003 3005' }), wizz).event?.flightNumbers).toEqual(['3001', '3003', '3005']);
  });

  it('leaves empty optional cells out', () => {
    const { event } = mapRow(wizzRow({ carrier: '', flight_numbers: '' }), wizz);
    expect(event).toBeDefined();
    expect(event).not.toHaveProperty('carrier');
    expect(event).not.toHaveProperty('flightNumbers');
  });

  it('upper-cases airport codes like the API', () => {
    expect(mapRow(wizzRow({ origin: 'crl' }), wizz).event?.origin).toBe('CRL');
  });

  it.each([
    [{ origin: '' }, 'origin is empty (column origin)'],
    [{ price_local: '' }, 'price is empty (column price_local)'],
    [{ price_local: '59,99' }, 'price is not a number (column price_local)'],
    [{ price_local: '0' }, 'price must be above 0 and below 10,000,000'],
    [{ origin: 'CRLX' }, 'origin must be a 3-letter IATA airport code'],
    [{ destination: 'CRL' }, 'destination must differ from origin'],
    [{ currency: 'eur' }, 'currency must be an ISO 4217 code in upper case, e.g. EUR'],
    [{ departure_date: '2016-02-30' }, 'departureDate must be a real calendar date as YYYY-MM-DD'],
    [{ search_ts_ms: '1453334400000' }, 'observedAt must not be later than the end of the departure date'],
    [{ search_ts_ms: '20160110' }, 'observedAt is a number but no epoch time in seconds or ms (column search_ts_ms)'],
    [{ search_ts_ms: 'yesterday' }, 'observedAt must be an ISO 8601 date-time with a zone, e.g. 2016-04-01T09:00:00Z'],
    [{ flight_numbers: '3002 W6-3004' }, 'each flight number must be 1 to 8 letters or digits'],
  ])('rejects %o with a reason', (overrides, reason) => {
    expect(mapRow(wizzRow(overrides), wizz)).toEqual({ reason });
  });

  it('rejects a row whose field count differs from the header', () => {
    expect(mapRow(wizzRow().slice(0, 5), wizz).reason).toBe('row has fewer fields than the header');
    expect(mapRow([...wizzRow(), 'extra'], wizz).reason).toBe('row has more fields than the header');
  });
});

describe('mapRow with flags for an Expedia-style file', () => {
  const expedia = resolveMapping(EXPEDIA_HEADER, EXPEDIA_FLAGS);

  it('maps a row: bare search date at 00:00Z, fixed currency, first carrier, id', () => {
    expect(mapRow(expediaRow(), expedia)).toEqual({
      event: {
        id: '9ca0e81111c683bec1012473feefd28f',
        origin: 'DEN',
        destination: 'BOS',
        departureDate: '2022-04-18',
        observedAt: '2022-04-16T00:00:00.000Z',
        price: 322.6,
        currency: 'USD',
        carrier: 'UA',
      },
    });
  });

  it('joins an id from several columns, and rejects a row whose id cell is empty', () => {
    const composite = resolveMapping(EXPEDIA_HEADER, { ...EXPEDIA_FLAGS, id: 'legId,searchDate' });
    expect(mapRow(expediaRow(), composite).event?.id).toBe('9ca0e81111c683bec1012473feefd28f:2022-04-16');
    expect(mapRow(expediaRow({ legId: '' }), composite)).toEqual({ reason: 'id is empty (column legId,searchDate)' });
  });

  it('reads an observed-at date-time with a zone and normalises it to UTC', () => {
    expect(mapRow(expediaRow({ searchDate: '2022-04-16T09:30:00-04:00' }), expedia).event?.observedAt).toBe(
      '2022-04-16T13:30:00.000Z',
    );
  });

  it('rejects an observed-at date-time without a zone', () => {
    expect(mapRow(expediaRow({ searchDate: '2022-04-16T09:30:00' }), expedia).reason).toMatch(/with a zone/);
  });

  it('rejects a search after the departure day', () => {
    expect(mapRow(expediaRow({ searchDate: '2022-04-19' }), expedia).reason).toBe(
      'observedAt must not be later than the end of the departure date',
    );
  });

  it('leaves the default optional columns the file lacks unmapped', () => {
    expect(expedia.skipped).toEqual(['flightNumbers']);
    expect(expedia.mapping.currency).toBeUndefined();
  });
});

describe('resolveMapping', () => {
  it('names every missing required column', () => {
    expect(() => resolveMapping(['origin', 'destination'])).toThrow(MappingError);
    expect(() => resolveMapping(['origin', 'destination'])).toThrow(/departureDate → column "departure_date"[\s\S]*price → column "price_local"/);
  });

  it('fails for an optional column the caller named but the file lacks', () => {
    expect(() => resolveMapping(WIZZ_HEADER, { id: 'legId' })).toThrow(/id → column "legId"/);
    expect(() => resolveMapping(WIZZ_HEADER, { id: 'series_id,legId' })).toThrow(/id → column "legId"/);
    expect(() => resolveMapping(EXPEDIA_HEADER, { ...EXPEDIA_FLAGS, carrier: 'airline' })).toThrow(/carrier → column "airline"/);
  });

  it('needs a currency column or a fixed currency', () => {
    const header = EXPEDIA_HEADER;
    const { currencyValue: _, ...withoutCurrency } = EXPEDIA_FLAGS;
    expect(() => resolveMapping(header, withoutCurrency)).toThrow(/--currency-value/);
  });

  it('lets a fixed currency win over the currency column', () => {
    const resolved = resolveMapping(WIZZ_HEADER, { currencyValue: 'GBP' });
    expect(mapRow(wizzRow(), resolved).event?.currency).toBe('GBP');
  });
});

describe('cell helpers', () => {
  it.each([
    ['1452416400406', '2016-01-10T09:00:00.406Z'],
    ['1452416400', '2016-01-10T09:00:00.000Z'],
    ['1452416400.5', '2016-01-10T09:00:00.500Z'],
    ['2016-01-10', '2016-01-10T00:00:00Z'],
    ['2016-01-10T10:00:00+01:00', '2016-01-10T10:00:00+01:00'],
    ['2016-02-30', '2016-02-30'],
    ['20160110', undefined],
    ['99999999999999999999999', undefined],
  ])('normaliseObservedAt(%s) = %s', (input, expected) => {
    expect(normaliseObservedAt(input)).toBe(expected);
  });

  it('takes the first of multiple values and splits lists', () => {
    expect(firstValue('UA||DL')).toBe('UA');
    expect(firstValue('W6;W6')).toBe('W6');
    expect(firstValue('||DL')).toBe('DL');
    expect(splitValues('UA1||DL2')).toEqual(['UA1', 'DL2']);
    expect(splitValues('  ')).toEqual([]);
  });
});
