import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import { runScript } from './cli.js';

const HEADER = 'origin,destination,departure_date,search_ts_ms,price_local,currency,carrier,flight_numbers';
const DAY_MS = 86_400_000;

function csvFile(path: string, days: number, extra: string[] = []): string {
  const departure = Date.parse('2016-03-20T00:00:00Z');
  const rows = Array.from(
    { length: days },
    (_, d) => `CRL,OTP,2016-03-20,${departure - (days - d) * DAY_MS + 9 * 3_600_000},${(49.99 + (d % 4) * 10).toFixed(2)},EUR,W6,3002`,
  );
  writeFileSync(path, gzipSync(`${[HEADER, ...rows, ...extra].join('\n')}\n`));
  return path;
}

let dir: string;
let dbPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'faresight-import-cli-'));
  dbPath = join(dir, 'faresight.db');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run import', () => {
  it('imports, prints a JSON summary, and re-imports as duplicates', async () => {
    const file = csvFile(join(dir, 'fares.csv.gz'), 20, ['CRL,OTP,2016-03-20,1457254800000,-5,EUR,W6,3002']);
    const first = await runScript('import.ts', [file, '--json'], dbPath);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary).toMatchObject({ database: dbPath, read: 21, accepted: 20, duplicates: 0, rejected: 1 });
    expect(summary.reasons).toEqual([{ reason: 'price must be above 0 and below 10,000,000', count: 1, firstLine: 22 }]);

    const second = await runScript('import.ts', [file], dbPath);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/accepted\s+0\n/);
    expect(second.stdout).toMatch(/duplicates\s+20\n/);
    expect(second.stdout).toMatch(/1\s+price must be above 0 and below 10,000,000 \(first on line 22\)/);
  });

  it('with --process, runs the functions until no lag is left', async () => {
    const file = csvFile(join(dir, 'fares.csv.gz'), 15);
    const result = await runScript('import.ts', [file, '--json', '--process'], dbPath);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ accepted: 15, processed: { lag: 0, deadLetters: 0 } });

    const database = openDatabase({ path: dbPath });
    try {
      const storage = createSqliteRuntimeStorage(database.sqlite);
      expect(storage.deliveries.cursor('extract-features')).toBeGreaterThanOrEqual(15);
    } finally {
      database.close();
    }
  });

  it('exits 1 without touching the database for a missing file or a header that does not fit', async () => {
    const missing = await runScript('import.ts', [join(dir, 'nope.csv.gz')], dbPath);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: cannot read .*nope\.csv\.gz: ENOENT/);
    expect(existsSync(dbPath)).toBe(false);

    const wrong = join(dir, 'wrong.csv');
    writeFileSync(wrong, 'a,b\n1,2\n');
    const mismatch = await runScript('import.ts', [wrong, '--origin', 'a'], dbPath);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/does not fit the column mapping/);
    expect(mismatch.stderr).toMatch(/destination → column "destination"/);
  });

  it('exits 1 on bad usage', async () => {
    const none = await runScript('import.ts', [], dbPath);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/give exactly one CSV file/);
    const batch = await runScript('import.ts', ['x.csv', '--batch-size', '0'], dbPath);
    expect(batch.code).toBe(1);
    expect(batch.stderr).toMatch(/--batch-size/);
  });
});
