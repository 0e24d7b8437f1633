import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalContent,
  dayEndMs,
  daysBeforeDeparture,
  FareEventInput,
  idempotencyKeyOf,
  isCalendarDate,
  MAX_PRICE,
  type FareEvent,
} from '../../src/events/fare-event.js';

const RUNS = 1000;
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const FIELDS = new Set(['id', 'origin', 'destination', 'departureDate', 'observedAt', 'price', 'currency', 'carrier', 'flightNumbers']);
const DAY_MS = 86_400_000;

/** Everything an accepted event must satisfy, whatever was sent. */
function expectInvariants(event: FareEvent): void {
  for (const key of Object.keys(event)) expect(FIELDS.has(key), `unexpected field ${key}`).toBe(true);
  expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
  expect(event.origin).toMatch(/^[A-Z]{3}$/);
  expect(event.destination).toMatch(/^[A-Z]{3}$/);
  expect(event.destination).not.toBe(event.origin);
  expect(isCalendarDate(event.departureDate)).toBe(true);
  expect(event.observedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  const observed = Date.parse(event.observedAt);
  expect(new Date(observed).toISOString()).toBe(event.observedAt);
  expect(observed).toBeLessThan(dayEndMs(event.departureDate));
  expect(Number.isInteger(daysBeforeDeparture(event))).toBe(true);
  expect(daysBeforeDeparture(event)).toBeGreaterThanOrEqual(0);
  expect(Number.isFinite(event.price)).toBe(true);
  expect(event.price).toBeGreaterThan(0);
  expect(event.price).toBeLessThan(MAX_PRICE);
  expect(CURRENCIES.has(event.currency)).toBe(true);
  if (event.id !== undefined) {
    expect(typeof event.id).toBe('string');
    expect(event.id.length).toBeGreaterThanOrEqual(1);
    expect(event.id.length).toBeLessThanOrEqual(128);
  }
  if (event.carrier !== undefined) expect(event.carrier).toMatch(/^[A-Z0-9]{2,3}$/);
  if (event.flightNumbers !== undefined) {
    expect(event.flightNumbers.length).toBeLessThanOrEqual(16);
    for (const n of event.flightNumbers) expect(n).toMatch(/^[A-Z0-9]{1,8}$/);
  }
  // Normalising is idempotent, and survives the JSON round trip of the event log.
  const again = FareEventInput.parse(JSON.parse(JSON.stringify(event)));
  expect(again).toEqual(event);
  expect(canonicalContent(again)).toBe(canonicalContent(event));
  expect(idempotencyKeyOf(again)).toBe(idempotencyKeyOf(event));
}

/** Parses without throwing; an accepted event satisfies the invariants, a rejected one has issues. */
function check(input: unknown): boolean {
  let result: ReturnType<typeof FareEventInput.safeParse>;
  try {
    result = FareEventInput.safeParse(input);
  } catch (error) {
    throw new Error(`safeParse threw on ${safeJson(input)}: ${String(error)}`);
  }
  if (result.success) {
    expectInvariants(result.data);
    return true;
  }
  expect(result.error.issues.length).toBeGreaterThan(0);
  for (const issue of result.error.issues) {
    expect(typeof issue.message).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
    expect(Array.isArray(issue.path)).toBe(true);
  }
  return false;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 300) ?? String(value);
  } catch {
    return String(value);
  }
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A valid event as a client may send it: any case for codes, any zone for observedAt. */
const validEvent = fc
  .record({
    origin: fc.stringMatching(/^[A-Za-z]{3}$/),
    destination: fc.stringMatching(/^[A-Za-z]{3}$/),
    departure: fc.integer({ min: Date.UTC(1971, 0, 1) / DAY_MS, max: Date.UTC(2099, 11, 31) / DAY_MS }),
    daysBefore: fc.integer({ min: 0, max: 400 }),
    secondOfDay: fc.integer({ min: 0, max: DAY_MS / 1000 - 1 }),
    millis: fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }),
    offsetMinutes: fc.constantFrom(0, 60, -60, 330, -570, 840, -720),
    price: fc.double({ min: 0.01, max: MAX_PRICE - 1, noNaN: true }),
    currency: fc.constantFrom('EUR', 'GBP', 'PLN', 'HUF', 'USD', 'JPY', 'CHF'),
    id: fc.option(fc.string({ minLength: 1, maxLength: 128 }), { nil: undefined }),
    carrier: fc.option(fc.stringMatching(/^[A-Z0-9]{2,3}$/), { nil: undefined }),
    flightNumbers: fc.option(fc.array(fc.stringMatching(/^[A-Z0-9]{1,8}$/), { maxLength: 16 }), { nil: undefined }),
  })
  .filter((e) => e.origin.toUpperCase() !== e.destination.toUpperCase())
  .map((e) => {
    const departureDate = new Date(e.departure * DAY_MS).toISOString().slice(0, 10);
    // The instant, in UTC, then written in the chosen zone.
    const utc = (e.departure - e.daysBefore) * DAY_MS + e.secondOfDay * 1000 + (e.millis ?? 0);
    const local = new Date(utc + e.offsetMinutes * 60_000).toISOString();
    const zone =
      e.offsetMinutes === 0
        ? 'Z'
        : `${e.offsetMinutes > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(e.offsetMinutes) / 60))}:${pad(Math.abs(e.offsetMinutes) % 60)}`;
    const observedAt = `${local.slice(0, 19)}${e.millis === undefined ? '' : local.slice(19, 23)}${zone}`;
    const event: Record<string, unknown> = {
      origin: e.origin,
      destination: e.destination,
      departureDate,
      observedAt,
      price: e.price,
      currency: e.currency,
    };
    if (e.id !== undefined) event.id = e.id;
    if (e.carrier !== undefined) event.carrier = e.carrier;
    if (e.flightNumbers !== undefined) event.flightNumbers = e.flightNumbers;
    return event;
  });

/** Values that often break validators. */
const hostileValue = fc.oneof(
  fc.constantFrom(
    NaN,
    Infinity,
    -Infinity,
    -0,
    0,
    -1,
    MAX_PRICE,
    MAX_PRICE - 1e-9,
    Number.MIN_VALUE,
    Number.MAX_VALUE,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    '',
    ' ',
    '\u0000',
    'null',
    'NaN',
    '2016-02-30',
    '2015-02-29',
    '2016-13-01',
    '2016-00-10',
    '0000-01-01',
    '9999-12-31',
    '2016-04-01T24:00:00Z',
    '2016-04-01T09:00:00',
    '2016-04-01T09:00:00+25:00',
    '2016-04-01T09:00:00.1234567891Z',
    '2016-04-01 09:00:00Z',
    '+002016-04-01T09:00:00Z',
    'BCN\u200b',
    'ＢＣＮ',
    'bcn\n',
    'EUR ',
    'eur',
    'XXX',
    '\ud800',
    '💸💸💸',
    'x'.repeat(10_000),
    null,
    true,
    [],
    {},
    ['2376'],
    { toString: 'BCN' },
  ),
  fc.anything(),
);

/** A valid event with one to three mutations: a field replaced, removed or added, or a string edited. */
const mutatedEvent = fc
  .tuple(
    validEvent,
    fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom(...FIELDS), value: hostileValue }),
        fc.record({ kind: fc.constant('delete' as const), field: fc.constantFrom(...FIELDS) }),
        fc.record({ kind: fc.constant('add' as const), field: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'Price', 'price ')), value: fc.anything() }),
        fc.record({
          kind: fc.constant('edit' as const),
          field: fc.constantFrom('origin', 'destination', 'departureDate', 'observedAt', 'currency', 'carrier', 'id'),
          at: fc.nat(),
          insert: fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('\u0000', '\u202e', '\ufeff', '\r\n', '\ud83d')),
          remove: fc.nat({ max: 3 }),
        }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([event, mutations]) => {
    const out: Record<string, unknown> = { ...event };
    for (const m of mutations) {
      if (m.kind === 'set') out[m.field] = m.value;
      else if (m.kind === 'delete') delete out[m.field];
      else if (m.kind === 'add') Object.defineProperty(out, m.field, { value: m.value, enumerable: true, configurable: true, writable: true });
      else if (typeof out[m.field] === 'string') {
        const s = out[m.field] as string;
        const at = m.at % (s.length + 1);
        out[m.field] = s.slice(0, at) + m.insert + s.slice(at + m.remove);
      }
    }
    return out;
  });

describe('fare event schema under fuzzing', () => {
  it('accepts every valid event, and what it accepts satisfies the invariants', () => {
    fc.assert(
      fc.property(validEvent, (event) => {
        expect(check(event), safeJson(event)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on arbitrary values; accepts only events that satisfy the invariants', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, withObjectString: true }), (value) => {
        check(value);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        check(value);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on mutated valid events, and rejects or normalises each one', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(mutatedEvent, (event) => {
        if (check(event)) accepted++;
        else rejected++;
      }),
      { numRuns: RUNS },
    );
    // Both outcomes occur, so the property exercised both branches.
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  it('rejects a value that is not finite however it got into the object', () => {
    fc.assert(
      fc.property(validEvent, fc.constantFrom(NaN, Infinity, -Infinity), (event, price) => {
        expect(check({ ...event, price })).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects an observation after the end of the departure day, in any zone', () => {
    fc.assert(
      fc.property(validEvent, fc.integer({ min: 0, max: 1000 * DAY_MS }), (event, lateBy) => {
        const departureEnd = dayEndMs(event.departureDate as string);
        expect(check({ ...event, observedAt: new Date(departureEnd + lateBy).toISOString() })).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects an own __proto__ key (as JSON.parse makes it) like any unknown field', () => {
    fc.assert(
      fc.property(validEvent, fc.jsonValue(), (event, value) => {
        const json = `{"__proto__":${JSON.stringify(value)},${JSON.stringify(event).slice(1)}`;
        const parsed = JSON.parse(json) as unknown;
        expect(check(parsed)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
