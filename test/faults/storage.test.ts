import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import type { Service } from '../../src/service.js';
import { closeServices, countRows, fareEvent, fareSeries, makeService, ndjson, post, tempDbPath } from '../helpers/index.js';

const others: Database.Database[] = [];
afterEach(async () => {
  for (const db of others.splice(0)) if (db.open) db.close();
  await closeServices();
});

/** A second connection to the service's database file, as another process would hold it. */
function secondConnection(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('busy_timeout = 0');
  others.push(db);
  return db;
}

/** A service on a file, whose writes give up after 50 ms of waiting for a lock. */
function fileService(start = false): { service: Service; path: string } {
  const path = tempDbPath();
  const service = makeService({ dbPath: path, start, pollIntervalMs: 20 });
  service.database.sqlite.pragma('busy_timeout = 50');
  return { service, path };
}

async function expectUnavailable(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(503);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe('unavailable');
  expect(body.error.message).toMatch(/nothing from this request was stored/);
  expect(body.error.requestId).toEqual(expect.any(String));
  expect(text).not.toMatch(/SQLITE_|\n\s+at /);
}

const fareEvents = (service: Service) => countRows(service, 'event_log', 'type = ?', FARE_OBSERVED);
/** Observations folded into series by extract-features: each fare event exactly once. */
const folded = (service: Service) =>
  (service.database.sqlite.prepare('SELECT coalesce(sum(observations), 0) AS n FROM series').get() as { n: number }).n;

/** Shrinks the database's size limit to what it holds now plus `spare` pages. */
function capSize(service: Service, spare: number): void {
  const sqlite = service.database.sqlite;
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const pages = sqlite.pragma('page_count', { simple: true }) as number;
  sqlite.pragma(`max_page_count = ${pages + spare}`);
}

describe('a locked database', () => {
  it('answers 503 with Retry-After and stores nothing; the same request succeeds once the lock is gone', async () => {
    const { service, path } = fileService();
    const other = secondConnection(path);
    other.exec('BEGIN IMMEDIATE');

    const events = fareSeries(20);
    await expectUnavailable(await post(service.app, events));
    await expectUnavailable(await post(service.app, fareEvent(), { wait: 'true' }));
    await expectUnavailable(await post(service.app, ndjson(events), { contentType: 'application/x-ndjson' }));

    other.exec('ROLLBACK');
    expect(fareEvents(service)).toBe(0);
    const res = await post(service.app, events);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 20, duplicates: 0 });
    expect(fareEvents(service)).toBe(20);
  });

  it('does not hold up reads: /v1/functions and /readyz still answer while another writer holds the lock', async () => {
    const { service, path } = fileService();
    expect((await post(service.app, fareSeries(3))).status).toBe(202);
    const other = secondConnection(path);
    other.exec('BEGIN IMMEDIATE');
    expect((await service.app.request('/v1/functions')).status).toBe(200);
    expect((await service.app.request('/readyz')).status).toBe(200);
    other.exec('ROLLBACK');
  });

  it('delays processing but loses nothing: functions catch up once the lock is released, each event once', async () => {
    const { service, path } = fileService();
    expect((await post(service.app, fareSeries(30))).status).toBe(202);
    const other = secondConnection(path);
    other.exec('BEGIN IMMEDIATE');
    service.runtime.start();
    // Several polls fail against the lock.
    await new Promise((r) => setTimeout(r, 300));
    expect(folded(service)).toBe(0);
    other.exec('ROLLBACK');
    const drained = await service.runtime.drain(20_000);
    expect(drained).toEqual({ pending: 0, timedOut: false });
    expect(folded(service)).toBe(30);
    expect(countRows(service, 'deliveries', "status = 'dead'")).toBe(0);
  });
});

describe('a full disk', () => {
  it('answers 503 and stores nothing of the request; it succeeds once there is room again', async () => {
    const { service } = fileService();
    expect((await post(service.app, fareSeries(5, { departureDate: '2016-05-01' }))).status).toBe(202);
    capSize(service, 2);

    // Big enough that it cannot fit in two pages.
    const events = fareSeries(500, { departureDate: '2016-06-01' });
    await expectUnavailable(await post(service.app, events));
    await expectUnavailable(await post(service.app, ndjson(events), { contentType: 'application/x-ndjson' }));
    expect(fareEvents(service)).toBe(5);
    expect(service.database.sqlite.inTransaction).toBe(false);

    service.database.sqlite.pragma('max_page_count = 1073741823');
    const res = await post(service.app, events);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 500, duplicates: 0 });
    expect(fareEvents(service)).toBe(505);
  });

  it('keeps the service answering: health, reads and 4xx validation still work while writes fail', async () => {
    const { service } = fileService();
    capSize(service, 0);
    await expectUnavailable(await post(service.app, fareSeries(200)));
    expect((await service.app.request('/healthz')).status).toBe(200);
    expect((await service.app.request('/v1/functions')).status).toBe(200);
    expect((await post(service.app, { price: 'free' })).status).toBe(400);
  });
});

describe('a full disk while functions process', () => {
  // A storage fault is nobody's fault: the runtime backs off and retries without spending attempts.
  it('does not dead-letter events when the disk fills up during processing', async () => {
    const { service } = fileService();
    expect((await post(service.app, fareSeries(300))).status).toBe(202);
    // Room for the bookkeeping of a failed batch, not for the series and forecasts of all 300 events.
    capSize(service, 25);
    service.runtime.start();
    // Longer than the backoff of all retries of one event (≤ 1.5 × (200 + 400 + 800) ms).
    await new Promise((r) => setTimeout(r, 3000));
    service.database.sqlite.pragma('max_page_count = 1073741823');
    expect(await service.runtime.drain(20_000)).toEqual({ pending: 0, timedOut: false });
    expect(countRows(service, 'deliveries', "status = 'dead'")).toBe(0);
    expect(folded(service)).toBe(300);
  });
});
