import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import { hasFareEvents } from '../../src/db/training-events.js';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import { FareEventInput, idempotencyKeyOf, seriesKeyOf, type FareEvent } from '../../src/events/fare-event.js';
import { ingestFareEvents } from '../../src/ingest.js';
import { cleanupTemp, openTestDatabase, tempDbPath, tempDir } from '../helpers/index.js';

const MIGRATIONS = join(import.meta.dirname, '../../src/db/migrations');

/** A copy of the migrations folder holding only those before `tag`. */
function migrationsBefore(tag: string): string {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as {
    entries: { tag: string }[];
  };
  const upTo = journal.entries.findIndex((e) => e.tag === tag);
  expect(upTo).toBeGreaterThan(0);
  const entries = journal.entries.slice(0, upTo);
  const dir = tempDir('faresight-migrations-');
  mkdirSync(join(dir, 'meta'));
  for (const { tag: name } of entries) copyFileSync(join(MIGRATIONS, `${name}.sql`), join(dir, `${name}.sql`));
  writeFileSync(join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }));
  return dir;
}

afterEach(cleanupTemp);

/**
 * A database migrated up to just before `tag` and filled by `fill` as the code of then would
 * have, then opened as the service opens it, which runs the migrations from `tag` on.
 */
function upgradedFrom(tag: string, fill: (old: Database.Database) => void) {
  const path = tempDbPath();
  const old = new Database(path);
  migrate(drizzle(old), { migrationsFolder: migrationsBefore(tag) });
  fill(old);
  old.close();
  return openTestDatabase(path);
}

const indexCount = (db: Database.Database, name: string) =>
  db.prepare('SELECT count(*) FROM sqlite_master WHERE name = ?').pluck().get(name);

/** Stores fare events as the code of an older schema did: one row each, its own root. */
function insertAsBefore(db: Database.Database, events: FareEvent[]): void {
  const insert = db.prepare(
    'INSERT INTO event_log (type, key, series, time, root, payload, created_at) VALUES (?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM event_log), ?, 0)',
  );
  for (const e of events) insert.run(FARE_OBSERVED, idempotencyKeyOf(e), seriesKeyOf(e), Date.parse(e.observedAt), JSON.stringify(e));
}

const event = (observedAt: string, price = 69.99) =>
  FareEventInput.parse({ origin: 'BCN', destination: 'BUD', departureDate: '2016-04-20', observedAt, price, currency: 'EUR' });

describe('migration 0004: time-first idempotency keys', () => {
  it('rewrites the derived keys stored before, so a resent old event is still a duplicate', () => {
    const stored = [event('2016-04-01T09:00:00.000Z'), event('2016-04-02T09:00:00.000Z', 59.99)];
    const handle = upgradedFrom('0004_time_first_keys', (old) => {
      const insert = old.prepare(
        'INSERT INTO event_log (type, key, series, time, root, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, 0)',
      );
      stored.forEach((e, i) => {
        // The key as it was written before: the series, then observedAt.
        insert.run(FARE_OBSERVED, `BCN-BUD-2016-04-20@${e.observedAt}`, 'BCN-BUD-2016-04-20', Date.parse(e.observedAt), i + 1, JSON.stringify(e));
      });
      insert.run(FARE_OBSERVED, 'id:client-7', 'BCN-BUD-2016-04-20', 0, 3, JSON.stringify({ ...event('2016-04-03T09:00:00.000Z'), id: 'client-7' }));
      insert.run('retrain.requested', 'retrain@2016-04-01T00:00:00.000Z#ab12', 'retrain', 0, 4, '{}');
    });
    const keys = handle.sqlite.prepare('SELECT key FROM event_log ORDER BY seq').pluck().all();
    expect(keys).toEqual([
      '2016-04-01T09:00:00.000Z@BCN-BUD-2016-04-20',
      '2016-04-02T09:00:00.000Z@BCN-BUD-2016-04-20',
      'id:client-7',
      'retrain@2016-04-01T00:00:00.000Z#ab12',
    ]);
    expect(keys.slice(0, 2)).toEqual(stored.map(idempotencyKeyOf));

    const storage = createSqliteRuntimeStorage(handle.sqlite);
    expect(ingestFareEvents(storage, stored)).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(() => ingestFareEvents(storage, [event('2016-04-01T09:00:00.000Z', 1)])).toThrow(/different content/);
    expect(ingestFareEvents(storage, [event('2016-04-04T09:00:00.000Z')])).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(ingestFareEvents(storage, [event('2016-04-04T09:00:00.000Z')])).toMatchObject({ accepted: 0, duplicates: 1 });
  });
});

describe('migration 0006: the event log without its (type, seq) index', () => {
  it('keeps the log as it was: functions read it by seq, duplicates are still found, the data check counts', () => {
    const stored = [event('2016-04-01T09:00:00.000Z'), event('2016-04-02T09:00:00.000Z', 59.99)];
    const handle = upgradedFrom('0006_drop_type_seq_index', (old) => {
      insertAsBefore(old, stored);
      expect(indexCount(old, 'event_log_type_seq')).toBe(1);
    });
    expect(indexCount(handle.sqlite, 'event_log_type_seq')).toBe(0);
    const storage = createSqliteRuntimeStorage(handle.sqlite, { recentEvents: 0 });
    expect(storage.log.readAfter(0, [FARE_OBSERVED], 10).map((e) => e.payload)).toEqual(stored);
    expect(storage.log.readAfter(1, [FARE_OBSERVED], 10).map((e) => e.seq)).toEqual([2]);
    expect(ingestFareEvents(storage, stored)).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(hasFareEvents(handle.sqlite, 2)).toBe(true);
    expect(hasFareEvents(handle.sqlite, 3)).toBe(false);
  });
});

describe('migration 0007: keys unique without a unique index', () => {
  it('drops the index; every key stored before is still found, of either type and either form', () => {
    const withId = FareEventInput.parse({ ...event('2016-04-03T09:00:00.000Z'), id: 'client-7' });
    const stored = [event('2016-04-01T09:00:00.000Z'), event('2016-04-02T09:00:00.000Z', 59.99), withId];
    const retrainKey = { type: 'retrain.requested', key: 'retrain@2016-04-01T00:00:00.000Z#ab12', series: 'retrain', time: 0 };
    const handle = upgradedFrom('0007_key_index', (old) => {
      insertAsBefore(old, stored);
      old
        .prepare('INSERT INTO event_log (type, key, series, time, root, payload, created_at) VALUES (?, ?, ?, ?, 4, ?, 0)')
        .run(retrainKey.type, retrainKey.key, retrainKey.series, retrainKey.time, JSON.stringify({ reason: 'cron' }));
      expect(indexCount(old, 'event_log_type_key')).toBe(1);
    });
    expect(indexCount(handle.sqlite, 'event_log_type_key')).toBe(0);
    const storage = createSqliteRuntimeStorage(handle.sqlite, { recentEvents: 0 });
    expect(ingestFareEvents(storage, stored)).toMatchObject({ accepted: 0, duplicates: 3 });
    expect(() => ingestFareEvents(storage, [{ ...withId, price: 1 }])).toThrow(/different content/);
    const again = storage.transaction(() =>
      storage.log.appendKeyed({ ...retrainKey, payload: { reason: 'cron' }, contentOf: JSON.stringify }),
    );
    expect(again).toEqual({ kind: 'duplicate', seq: 4 });
    expect(handle.sqlite.prepare('SELECT count(*) FROM event_log').pluck().get()).toBe(4);
    // The keys read from the log were stored as a block: a restart finds them there.
    expect(handle.sqlite.prepare('SELECT count(*) FROM event_key_blocks').pluck().get()).toBe(1);
    const restarted = createSqliteRuntimeStorage(handle.sqlite, { recentEvents: 0 });
    expect(ingestFareEvents(restarted, stored)).toMatchObject({ accepted: 0, duplicates: 3 });
  });
});

describe('migration 0008: the log seq without AUTOINCREMENT', () => {
  it('keeps every row with its seq and root; new events continue after the highest seq and are their own root', () => {
    const stored = [event('2016-04-01T09:00:00.000Z'), event('2016-04-02T09:00:00.000Z', 59.99)];
    const columns = 'seq, type, key, content_hash, series, time, root, payload, created_at';
    let before: unknown[] = [];
    const handle = upgradedFrom('0008_plain_log_seq', (old) => {
      insertAsBefore(old, stored);
      // An event a function emitted, at a seq past a gap, descending from the first.
      old
        .prepare('INSERT INTO event_log (seq, type, series, time, root, payload, created_at) VALUES (7, ?, ?, 0, 1, ?, 0)')
        .run('features.extracted', seriesKeyOf(stored[0]), '{}');
      expect(old.prepare("SELECT sql FROM sqlite_master WHERE name = 'event_log'").pluck().get()).toMatch(/AUTOINCREMENT/);
      before = old.prepare(`SELECT ${columns} FROM event_log ORDER BY seq`).all();
    });
    const db = handle.sqlite;
    expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'event_log'").pluck().get()).not.toMatch(/AUTOINCREMENT/);
    expect(db.prepare(`SELECT ${columns} FROM event_log ORDER BY seq`).all()).toEqual(before);
    const storage = createSqliteRuntimeStorage(db, { recentEvents: 0 });
    expect(ingestFareEvents(storage, stored)).toMatchObject({ accepted: 0, duplicates: 2 });
    const next = event('2016-04-03T09:00:00.000Z', 49.99);
    expect(ingestFareEvents(storage, [next])).toMatchObject({ accepted: 1, maxSeq: 8 });
    const [appended] = storage.log.readAfter(7, [FARE_OBSERVED], 10);
    expect(appended).toMatchObject({ seq: 8, root: 8, payload: next });
    expect(ingestFareEvents(storage, [next])).toMatchObject({ accepted: 0, duplicates: 1 });
  });
});
