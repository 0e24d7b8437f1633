import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import type { FareEvent } from '../../src/events/fare-event.js';
import { CONFLICT_REASON, ImportError, importFareFile, type Rejection } from '../../src/importer/import-csv.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';

const HEADER = 'series_id,origin,destination,departure_date,search_date,search_ts_ms,days_before,price_local,currency,carrier,flight_numbers';
const DAY_MS = 86_400_000;

/** Wizz-format rows: `seriesCount` series of `days` daily observations, all valid, prices varying. */
function wizzRows(seriesCount: number, days: number): string[] {
  const rows: string[] = [];
  for (let s = 0; s < seriesCount; s++) {
    const departure = new Date(Date.UTC(2016, 2, 10 + s)).toISOString().slice(0, 10);
    for (let d = days; d >= 1; d--) {
      const searchMs = Date.parse(`${departure}T09:00:00Z`) - d * DAY_MS;
      const search = new Date(searchMs).toISOString().slice(0, 10);
      const price = (39.99 + ((s * 7 + d) % 11) * 10).toFixed(2);
      rows.push(`CRL-OTP-${departure},CRL,OTP,${departure},${search},${searchMs},${d},${price},EUR,W6,3002`);
    }
  }
  return rows;
}

let dir: string;
let database: DatabaseHandle;
let storage: RuntimeStorage;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'faresight-import-'));
  database = openDatabase({ path: join(dir, 'test.db') });
  storage = createSqliteRuntimeStorage(database.sqlite);
});

afterEach(() => {
  database.close();
  rmSync(dir, { recursive: true, force: true });
});

const writeGz = (name: string, lines: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, gzipSync(`${lines.join('\n')}\n`));
  return path;
};

const storedFares = (): FareEvent[] =>
  storage.log.readAfter(0, [FARE_OBSERVED], 1_000_000).map((e) => e.payload as FareEvent);

describe('importFareFile', () => {
  it('imports a gzipped file in batches, rejecting bad rows with reasons and line numbers', async () => {
    const good = wizzRows(4, 12); // 48 rows
    const lines = [HEADER, ...good];
    // Lines are 1-based with the header on line 1: insert bad rows at known lines.
    lines.splice(5, 0, 'CRL-OTP-2016-03-10,CRL,OTP,2016-03-10,2016-03-01,1456822800000,9,,EUR,W6,3002');
    lines.splice(20, 0, 'CRL-OTP-2016-03-10,CRL,CRL,2016-03-10,2016-03-01,1456822800000,9,10,EUR,W6,3002');
    lines.splice(30, 0, 'CRL-OTP-2016-03-10,CRL,OTP,2016-03-10,2016-03-01,1456822800000,9,abc,EUR,W6,3002');
    const rejections: Rejection[] = [];
    const progress: number[] = [];
    const summary = await importFareFile(writeGz('fares.csv.gz', lines), {
      storage,
      batchSize: 10,
      onReject: (r) => rejections.push(r),
      onRows: (n) => progress.push(n),
    });

    expect(summary).toMatchObject({ read: 51, accepted: 48, duplicates: 0, rejected: 3 });
    expect(rejections.map((r) => [r.line, r.reason])).toEqual([
      [6, 'price is empty (column price_local)'],
      [21, 'destination must differ from origin'],
      [31, 'price is not a number (column price_local)'],
    ]);
    expect(rejections[0].record?.[1]).toBe('CRL');
    expect(summary.reasons.map((r) => [r.reason, r.count, r.firstLine])).toEqual([
      ['price is empty (column price_local)', 1, 6],
      ['destination must differ from origin', 1, 21],
      ['price is not a number (column price_local)', 1, 31],
    ]);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(51);

    const stored = storedFares();
    expect(stored).toHaveLength(48);
    expect(new Set(stored.map((e) => `${e.departureDate}@${e.observedAt}`)).size).toBe(48);
    expect(stored[0]).toMatchObject({ origin: 'CRL', destination: 'OTP', currency: 'EUR', carrier: 'W6', flightNumbers: ['3002'] });
  });

  it('re-imports the same file as all duplicates, storing nothing new', async () => {
    const path = writeGz('fares.csv.gz', [HEADER, ...wizzRows(3, 10)]);
    const first = await importFareFile(path, { storage, batchSize: 7 });
    expect(first).toMatchObject({ read: 30, accepted: 30, duplicates: 0, rejected: 0 });
    const headAfterFirst = storage.log.head();

    const second = await importFareFile(path, { storage, batchSize: 7 });
    expect(second).toMatchObject({ read: 30, accepted: 0, duplicates: 30, rejected: 0 });
    expect(storage.log.head()).toBe(headAfterFirst);
  });

  it('rejects a conflicting row (same key, other content) while the rest of its batch lands', async () => {
    const rows = wizzRows(2, 10);
    await importFareFile(writeGz('first.csv.gz', [HEADER, ...rows.slice(0, 5)]), { storage });

    // Row 3 again with another price: the key (route, date, observedAt) now holds other content.
    const changed = rows[2].split(',');
    changed[7] = '999.99';
    const second = [HEADER, ...rows.slice(0, 2), changed.join(','), ...rows.slice(3)];
    const rejections: Rejection[] = [];
    const summary = await importFareFile(writeGz('second.csv.gz', second), {
      storage,
      batchSize: 100,
      onReject: (r) => rejections.push(r),
    });

    expect(summary).toMatchObject({ read: 20, accepted: 15, duplicates: 4, rejected: 1 });
    expect(summary.reasons).toEqual([{ reason: CONFLICT_REASON, count: 1, firstLine: 4 }]);
    expect(rejections[0].record?.[7]).toBe('999.99');
    const stored = storedFares();
    expect(stored).toHaveLength(20);
    expect(stored.some((e) => e.price === 999.99)).toBe(false);
  });

  it('rejects the second of two rows with one key and different content inside one file', async () => {
    const [a, b] = wizzRows(1, 2);
    const clash = a.split(',');
    clash[7] = '12.34';
    const summary = await importFareFile(writeGz('clash.csv.gz', [HEADER, a, b, clash.join(',')]), { storage });
    expect(summary).toMatchObject({ read: 3, accepted: 2, duplicates: 0, rejected: 1 });
    expect(summary.reasons[0]).toEqual({ reason: CONFLICT_REASON, count: 1, firstLine: 4 });
  });

  it('reads a plain CSV with a UTF-8 BOM, CRLF line ends, quotes, and Expedia-style flags', async () => {
    const text =
      '\uFEFFlegId,searchDate,flightDate,startingAirport,destinationAirport,totalFare,segmentsAirlineCode\r\n' +
      'leg-1,2022-04-16,2022-04-18,DEN,BOS,322.6,UA||UA\r\n' +
      '"leg-2",2022-04-16,2022-04-18,"DEN","BOS","199.1",DL\r\n' +
      'leg-3,2022-04-16,2022-04-18,ATL,BOS,,\r\n';
    const path = join(dir, 'expedia.csv');
    writeFileSync(path, text);
    const summary = await importFareFile(path, {
      storage,
      mapping: {
        origin: 'startingAirport',
        destination: 'destinationAirport',
        departureDate: 'flightDate',
        observedAt: 'searchDate',
        price: 'totalFare',
        currencyValue: 'USD',
        carrier: 'segmentsAirlineCode',
        id: 'legId',
      },
    });
    expect(summary).toMatchObject({ read: 3, accepted: 2, rejected: 1, unmapped: ['flightNumbers'] });
    expect(summary.reasons).toEqual([{ reason: 'price is empty (column totalFare)', count: 1, firstLine: 4 }]);
    expect(storedFares()).toEqual([
      { id: 'leg-1', origin: 'DEN', destination: 'BOS', departureDate: '2022-04-18', observedAt: '2022-04-16T00:00:00.000Z', price: 322.6, currency: 'USD', carrier: 'UA' },
      { id: 'leg-2', origin: 'DEN', destination: 'BOS', departureDate: '2022-04-18', observedAt: '2022-04-16T00:00:00.000Z', price: 199.1, currency: 'USD', carrier: 'DL' },
    ]);
  });

  it('rejects a row with stray quotes on its own, and counts an unreadable record', async () => {
    const rows = wizzRows(1, 4);
    const lines = [HEADER, rows[0], 'CRL-OTP-2016-03-10,CRL,"OT"P,2016-03-10,2016-03-01,1456822800000,9,10,EUR,W6,3002', rows[1], rows[2]];
    // A quote opened on the last line and never closed: the parser cannot read that record.
    const text = `${lines.join('\n')}\n${rows[3].replace(',W6,', ',"W6,')}\n`;
    const path = join(dir, 'broken.csv');
    writeFileSync(path, text);
    const rejections: Rejection[] = [];
    const summary = await importFareFile(path, { storage, onReject: (r) => rejections.push(r) });
    expect(summary).toMatchObject({ read: 5, accepted: 3, rejected: 2 });
    expect(rejections[0]).toMatchObject({ line: 3, reason: 'destination must be a 3-letter IATA airport code' });
    expect(rejections[1].reason).toMatch(/^unreadable CSV record \(CSV_QUOTE_NOT_CLOSED\)$/);
    expect(rejections[1].record).toBeUndefined();
    expect(storedFares()).toHaveLength(3);
  });

  it('fails with an ImportError, storing nothing, for a missing file, a header that does not fit, or an empty file', async () => {
    await expect(importFareFile(join(dir, 'nope.csv.gz'), { storage })).rejects.toThrow(ImportError);
    await expect(importFareFile(join(dir, 'nope.csv.gz'), { storage })).rejects.toThrow(/ENOENT/);
    const wrong = writeGz('wrong.csv.gz', ['a,b,c', '1,2,3']);
    await expect(importFareFile(wrong, { storage })).rejects.toThrow(/origin → column "origin"/);
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    await expect(importFareFile(empty, { storage })).rejects.toThrow(/no header row/);
    expect(storage.log.head()).toBe(0);
  });

  it('stops on a storage failure instead of counting it as rejected rows', async () => {
    let calls = 0;
    const failing: RuntimeStorage = {
      ...storage,
      transaction: (fn) => {
        if (++calls === 2) throw new Error('SQLITE_FULL: database or disk is full');
        return storage.transaction(fn);
      },
    };
    const path = writeGz('fares.csv.gz', [HEADER, ...wizzRows(3, 10)]);
    await expect(importFareFile(path, { storage: failing, batchSize: 10 })).rejects.toThrow(/SQLITE_FULL/);
    expect(storedFares()).toHaveLength(10);
  });

  it('fails with an ImportError on a truncated gzip file', async () => {
    const full = gzipSync(`${[HEADER, ...wizzRows(5, 40)].join('\n')}\n`);
    const path = join(dir, 'truncated.csv.gz');
    writeFileSync(path, full.subarray(0, Math.floor(full.length / 2)));
    await expect(importFareFile(path, { storage })).rejects.toThrow(ImportError);
  });
});
