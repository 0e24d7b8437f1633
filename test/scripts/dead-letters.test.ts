import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';
import { runScript } from './cli.js';

let dir: string;
let dbPath: string;

/** Opens the test database, runs `fn` on its storage, and closes it again (the CLI needs it to itself). */
function withStorage<T>(fn: (storage: RuntimeStorage) => T): T {
  const database = openDatabase({ path: dbPath });
  try {
    return fn(createSqliteRuntimeStorage(database.sqlite));
  } finally {
    database.close();
  }
}

/** Logs an event and dead-letters it for `functionId`; returns the dead letter's id. */
function seedDeadLetter(storage: RuntimeStorage, functionId: string, series: string, error: string): number {
  return storage.transaction(() => {
    const outcome = storage.log.appendKeyed({
      type: 'fare.observed',
      key: `${series}@test`,
      contentOf: JSON.stringify,
      series,
      time: Date.parse('2016-03-01T00:00:00Z'),
      payload: { series },
    });
    if (outcome.kind !== 'accepted') throw new Error('seed failed');
    const event = storage.log.read(outcome.seq)!;
    storage.deliveries.addPending(functionId, [event], 0);
    const [delivery] = storage.deliveries.duePending(functionId, 1, 10).filter((d) => d.seq === outcome.seq);
    storage.deliveries.kill(delivery, error, Date.parse('2016-03-02T00:00:00Z'));
    return delivery.id;
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'faresight-dead-letters-'));
  dbPath = join(dir, 'faresight.db');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run dead-letters', () => {
  it('lists dead letters as JSON and as a table, filtered by function', async () => {
    const [first, second] = withStorage((storage) => [
      seedDeadLetter(storage, 'extract-features', 'CRL-OTP-2016-03-20', 'Error: boom'),
      seedDeadLetter(storage, 'predict', 'OTP-CRL-2016-03-21', 'Error: no luck'),
    ]);

    const json = await runScript('dead-letters.ts', ['list', '--json'], dbPath);
    expect(json.code).toBe(0);
    const { deadLetters } = JSON.parse(json.stdout);
    expect(deadLetters).toEqual([
      expect.objectContaining({ id: first, functionId: 'extract-features', series: 'CRL-OTP-2016-03-20', error: 'Error: boom', attempts: 1, failedAt: '2016-03-02T00:00:00.000Z', event: { type: 'fare.observed', payload: { series: 'CRL-OTP-2016-03-20' } } }),
      expect.objectContaining({ id: second, functionId: 'predict', error: 'Error: no luck' }),
    ]);

    const table = await runScript('dead-letters.ts', ['list', '--function', 'predict'], dbPath);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+FUNCTION\s+SEQ\s+SERIES/);
    expect(table.stdout).toContain('OTP-CRL-2016-03-21');
    expect(table.stdout).not.toContain('CRL-OTP-2016-03-20');
  });

  it('replays a dead letter: it becomes pending and leaves the list', async () => {
    const id = withStorage((storage) => seedDeadLetter(storage, 'extract-features', 'CRL-OTP-2016-03-20', 'Error: boom'));

    const replay = await runScript('dead-letters.ts', ['replay', String(id)], dbPath);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(new RegExp(`replayed 1: ${id}`));
    withStorage((storage) => {
      expect(storage.deliveries.get(id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(storage.deliveries.listDead({ limit: 10 })).toEqual([]);
    });

    const again = await runScript('dead-letters.ts', ['replay', String(id)], dbPath);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(`no dead letter with id ${id}`);
  });

  it('exits 1 on bad usage', async () => {
    const unknown = await runScript('dead-letters.ts', ['purge'], dbPath);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command "purge"/);
    const badId = await runScript('dead-letters.ts', ['replay', 'abc'], dbPath);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/abc is not a dead-letter id/);
  });
});
