import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FareEventInput, idempotencyKeyOf } from '../../src/events/fare-event.js';
import { batchBodies, inTimeOrder, readFares, uniqueEventSource } from '../../scripts/bench/data.js';
import { asOfMs, findKey, isUnfinishedStatus, modelRecords, serviceNodeArgs } from '../../scripts/bench/service.js';

const SAMPLE = 'data/wizz-sample.csv.gz';

describe('uniqueEventSource', () => {
  it('produces valid events with distinct idempotency keys', () => {
    const next = uniqueEventSource(50);
    const keys = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const parsed = FareEventInput.safeParse(JSON.parse(next()));
      expect(parsed.success).toBe(true);
      if (parsed.success) keys.add(idempotencyKeyOf(parsed.data));
    }
    expect(keys.size).toBe(500);
  });
});

describe('readFares', () => {
  const all = readFares(SAMPLE);
  const dir = mkdtempSync(join(tmpdir(), 'faresight-bench-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps rows of the sample to valid fare events', () => {
    expect(all.fares.length).toBeGreaterThan(1000);
    for (let i = 0; i < all.fares.length; i += 97) expect(FareEventInput.safeParse(all.fares[i]).success).toBe(true);
  });

  it('reads the file as the shared data writes it: flights split on ";", observedAt from epoch ms', () => {
    const path = join(dir, 'tiny.csv.gz');
    const csv = [
      'series_id,origin,destination,departure_date,search_date,search_ts_ms,days_before,price_local,currency,price_eur_approx,n_flights_that_day,carrier,flight_numbers,std,sta',
      'BCN-BUD-2016-04-20,BCN,BUD,2016-04-20,2016-03-01,1456790400000,50,69.99,EUR,69.99,2,W6,2376;2378,09:15,11:50',
      'BCN-BUD-2016-04-20,BCN,BUD,2016-04-20,2016-03-02,1456876800000,49,79.99,EUR,79.99,1,W6,2376,09:15,11:50',
      'OTP-LTN-2016-04-21,OTP,LTN,2016-04-21,2016-03-02,1456876800000,50,399,RON,90,1,W6,,09:15,11:50',
      '',
    ].join('\n');
    writeFileSync(path, gzipSync(csv));
    const { fares, series } = readFares(path);
    expect(fares).toEqual([
      { origin: 'BCN', destination: 'BUD', departureDate: '2016-04-20', observedAt: '2016-03-01T00:00:00.000Z', price: 69.99, currency: 'EUR', carrier: 'W6', flightNumbers: ['2376', '2378'] },
      { origin: 'BCN', destination: 'BUD', departureDate: '2016-04-20', observedAt: '2016-03-02T00:00:00.000Z', price: 79.99, currency: 'EUR', carrier: 'W6', flightNumbers: ['2376'] },
      { origin: 'OTP', destination: 'LTN', departureDate: '2016-04-21', observedAt: '2016-03-02T00:00:00.000Z', price: 399, currency: 'RON', carrier: 'W6' },
    ]);
    expect(series).toEqual([
      { origin: 'BCN', destination: 'BUD', departureDate: '2016-04-20', lastObservedMs: 1456876800000 },
      { origin: 'OTP', destination: 'LTN', departureDate: '2016-04-21', lastObservedMs: 1456876800000 },
    ]);
    for (const fare of fares) expect(FareEventInput.safeParse(fare).success).toBe(true);
  });

  it('refuses quoted fields rather than misreading them', () => {
    const path = join(dir, 'quoted.csv.gz');
    writeFileSync(path, gzipSync('series_id,origin,destination,departure_date,search_ts_ms,price_local,currency,carrier,flight_numbers\n"A",B,C,D,1,2,EUR,W6,1\n'));
    expect(() => readFares(path)).toThrow(/quoted/);
  });

  it('keeps whole series when thinning, and knows each series\' last observation', () => {
    const third = readFares(SAMPLE, 3);
    expect(third.series.length).toBe(Math.ceil(all.series.length / 3));
    const kept = new Set(third.series.map((s) => `${s.origin}-${s.destination}-${s.departureDate}`));
    const expected = all.fares.filter((f) => kept.has(`${f.origin}-${f.destination}-${f.departureDate}`));
    expect(third.fares.length).toBe(expected.length);
    expect(third.fares.every((f, i) => f.observedAt === expected[i].observedAt && f.price === expected[i].price)).toBe(true);
    const last = new Map<string, number>();
    for (const f of third.fares) {
      const key = `${f.origin}-${f.destination}-${f.departureDate}`;
      last.set(key, Math.max(last.get(key) ?? 0, Date.parse(f.observedAt)));
    }
    for (const s of third.series) expect(s.lastObservedMs).toBe(last.get(`${s.origin}-${s.destination}-${s.departureDate}`));
  });

  it('orders by observedAt on request, stably', () => {
    const ordered = inTimeOrder(all.fares);
    expect(ordered).toHaveLength(all.fares.length);
    const times = ordered.map((f) => Date.parse(f.observedAt));
    const outOfOrder = times.findIndex((t, i) => i > 0 && t < times[i - 1]);
    expect(outOfOrder).toBe(-1);
    expect(new Set(ordered)).toEqual(new Set(all.fares));
  });

  it('serialises batches that hold every event once', () => {
    const bodies = batchBodies(all.fares, 1000);
    expect(bodies.reduce((n, b) => n + b.count, 0)).toBe(all.fares.length);
    expect(bodies.every((b) => b.count <= 1000)).toBe(true);
    expect(JSON.parse(bodies[bodies.length - 1].body)).toHaveLength(bodies[bodies.length - 1].count);
  });
});

describe('reading service answers', () => {
  it('finds asOf as ISO text or epoch ms, nested or not', () => {
    expect(asOfMs({ forecast: { asOf: '2016-03-31T09:00:00Z' } })).toBe(Date.parse('2016-03-31T09:00:00Z'));
    expect(asOfMs({ asOf: 1459414800000 })).toBe(1459414800000);
    expect(asOfMs({ asOf: 'not a date' })).toBeUndefined();
    expect(findKey([{ a: 1 }, { b: { c: 2 } }], 'c')).toBe(2);
  });

  it('lists model records and tells a running retrain from a finished one', () => {
    const records = modelRecords({ current: { version: 'm1', status: 'active' }, models: [{ version: 'm2', status: 'training' }] });
    expect(records.map((r) => r.version)).toEqual(['m1', 'm2']);
    expect(isUnfinishedStatus('training')).toBe(true);
    expect(isUnfinishedStatus('active')).toBe(false);
    expect(isUnfinishedStatus(undefined)).toBe(false);
  });
});

describe('serviceNodeArgs', () => {
  it('turns npm start into a plain node command', () => {
    expect(serviceNodeArgs('tsx src/index.ts')).toEqual(['--import', 'tsx', 'src/index.ts']);
    expect(serviceNodeArgs('node dist/index.js')).toEqual(['dist/index.js']);
    expect(serviceNodeArgs('node --enable-source-maps dist/index.js')).toEqual(['--enable-source-maps', 'dist/index.js']);
    expect(() => serviceNodeArgs('npm run serve')).toThrow(/plain node command/);
  });
});
