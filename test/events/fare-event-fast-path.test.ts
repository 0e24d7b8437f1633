import { describe, expect, it } from 'vitest';
import { acceptFareEvent, FareEventInput, MAX_PRICE, parseFareEvent } from '../../src/events/fare-event.js';
import { prng } from '../../src/lib/prng.js';
import { fareEvent } from '../helpers/index.js';
import { sampleEvents } from '../helpers/sample.js';

/**
 * The fast path may only say what zod says: for every input it accepts, zod accepts it too
 * and outputs the same event, down to the order of its keys (the log stores it as JSON).
 */
function expectAgreement(input: unknown): 'fast' | 'zod-valid' | 'invalid' {
  const fast = acceptFareEvent(input);
  const zod = FareEventInput.safeParse(input);
  if (fast === undefined) {
    if (zod.success) expect(leftToZodOnPurpose(input), `a valid event left to zod: ${JSON.stringify(input)}`).toBe(true);
    return zod.success ? 'zod-valid' : 'invalid';
  }
  expect(zod.success, `zod refuses what the fast path accepted: ${JSON.stringify(input)}`).toBe(true);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(zod.data));
  expect(Object.keys(fast)).toEqual(Object.keys(zod.data!));
  expect(fast).toEqual(zod.data);
  return 'fast';
}

/**
 * The valid events the fast path leaves to zod by design: objects that are not plain JSON data
 * (another prototype, a key present with the value undefined), and an id over 128 UTF-16 units,
 * which zod measures in code points (an id of 65 emoji is 130 units and 65 code points).
 */
function leftToZodOnPurpose(input: unknown): boolean {
  const event = input as Record<string, unknown>;
  return (
    Object.getPrototypeOf(event) !== Object.prototype ||
    Object.values(event).includes(undefined) ||
    (typeof event.id === 'string' && event.id.length > 128)
  );
}

const anything = [undefined, null, true, 0, -1, 1.5, Number.NaN, Infinity, '', ' ', 'x', [], {}, ['2376'], 'a'.repeat(200)];

/** Values of each field near its rules' edges, valid and not. */
const edges: Record<string, unknown[]> = {
  id: ['a', 'client-7', 'a'.repeat(128), 'a'.repeat(129), '😀'.repeat(64), '😀'.repeat(65), 'é'],
  origin: ['BCN', 'bcn', 'BcN', 'BUD', 'BC', 'BCNX', 'B1N', 'ÄBC', 'BCN\n', ' BCN'],
  destination: ['BUD', 'bud', 'BCN', 'bcn', 'XXX', 'BU', 'BUD '],
  departureDate: ['2016-04-20', '2016-02-29', '2015-02-29', '2016-04-31', '2016-13-01', '0099-01-01', '2016-4-20', '2016-04-20T00:00:00Z', '2016-04-01', '2016-03-31', '2100-02-29', '2000-02-29'],
  observedAt: [
    '2016-04-01T09:00:00Z',
    '2016-04-01T09:00:00.406Z',
    '2016-04-01T09:00:00.123456789Z',
    '2016-04-01T09:00Z',
    '2016-04-01T09:00:00+02:00',
    '2016-04-01T09:00:00-0530',
    '2016-04-01t09:00:00z',
    '2016-04-01T09:00:00',
    '2016-04-01 09:00:00Z',
    '2016-04-20T23:59:59.999Z',
    '2016-04-21T00:00:00.000Z',
    '2016-04-20T24:00:00Z',
    '2016-04-01T24:00:00Z',
    '2016-04-01T25:00:00Z',
    '2016-02-30T09:00:00Z',
    '2016-04-21T01:00:00+02:00',
    '2016-04-20T23:00:00-02:00',
  ],
  price: [69.99, 0.01, 0, -0, -1, MAX_PRICE, MAX_PRICE - 0.01, 1e-300, Number.MIN_VALUE, '69.99', 1e400],
  currency: ['EUR', 'HUF', 'PLN', 'eur', 'EURO', 'XXX', 'ZZZ', 'EU'],
  carrier: ['W6', 'W61', 'W', 'w6', 'W6 ', 'W612', 'FR'],
  flightNumbers: [['2376'], [], ['A1', 'B2'], ['a1'], [''], ['123456789'], Array.from({ length: 16 }, () => '1'), Array.from({ length: 17 }, () => '1'), [1], '2376'],
};

describe('acceptFareEvent, the fast path of the fare event schema', () => {
  it('accepts every event of the shipped sample, as zod outputs it', () => {
    const events = sampleEvents();
    expect(events.length).toBeGreaterThan(1000);
    for (const event of events) expect(expectAgreement(JSON.parse(JSON.stringify(event)))).toBe('fast');
  });

  it('agrees with zod on every one-field change of a valid event, at the edges of each rule', () => {
    const base: Record<string, unknown> = { ...fareEvent(), id: 'client-1', carrier: 'W6', flightNumbers: ['2376'] };
    const outcomes = { fast: 0, 'zod-valid': 0, invalid: 0 };
    for (const field of Object.keys(edges)) {
      for (const value of [...edges[field], ...anything]) {
        outcomes[expectAgreement({ ...base, [field]: value })]++;
        outcomes[expectAgreement(JSON.parse(JSON.stringify({ ...base, [field]: value })))]++;
      }
      const { [field]: _dropped, ...without } = base;
      outcomes[expectAgreement(without)]++;
    }
    // It takes the valid ones itself, rather than handing them all to zod.
    expect(outcomes.fast).toBeGreaterThan(80);
    expect(outcomes['zod-valid']).toBeLessThan(10);
    expect(outcomes.invalid).toBeGreaterThan(200);
  });

  it('leaves to zod what is not plain JSON data: extra or inherited keys, undefined values, other prototypes', () => {
    const base = fareEvent();
    const inputs: unknown[] = [
      { ...base, extra: 1 },
      JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(base).slice(1)}`),
      { ...base, carrier: undefined },
      Object.assign(Object.create(null), base),
      Object.assign(Object.create({ inherited: 1 }), base),
      Object.assign(new (class Event {})(), base),
      [base],
      JSON.stringify(base),
      null,
      42,
    ];
    for (const input of inputs) {
      expect(acceptFareEvent(input)).toBeUndefined();
      expectAgreement(input);
    }
  });

  it('agrees with zod on random events built from the edge values of every field', () => {
    const next = prng(2016);
    const pick = <T>(values: readonly T[]) => values[Math.floor(next() * values.length)];
    const outcomes = { fast: 0, 'zod-valid': 0, invalid: 0 };
    const base: Record<string, unknown> = { ...fareEvent(), id: 'client-1' };
    for (let i = 0; i < 20_000; i++) {
      const input: Record<string, unknown> = {};
      for (const [field, values] of Object.entries(edges)) {
        const optional = field === 'id' || field === 'carrier' || field === 'flightNumbers';
        const roll = next();
        if (optional && roll < 0.3) continue;
        if (roll > 0.99) continue; // a required field left out, now and then
        const change = next();
        input[field] = change < 0.6 ? base[field] : change < 0.97 ? pick(values) : pick(anything);
      }
      outcomes[expectAgreement(JSON.parse(JSON.stringify(input)))]++;
    }
    expect(outcomes.fast).toBeGreaterThan(500);
    expect(outcomes['zod-valid']).toBeLessThan(outcomes.fast / 10);
  });

  it('answers through parseFareEvent as zod does, with zod’s issues for an invalid event', () => {
    const valid = fareEvent({ origin: 'bcn' });
    expect(parseFareEvent(valid)).toEqual(FareEventInput.safeParse(valid));
    const invalid = fareEvent({ price: -1 });
    const result = parseFareEvent(invalid);
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual(FareEventInput.safeParse(invalid).error?.issues);
  });
});
