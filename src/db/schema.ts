import { sql } from 'drizzle-orm';
import { blob, index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** Delivery states of an event that left a function's fast path. */
export const DELIVERY_STATUSES = ['pending', 'dead'] as const;

/**
 * The append-only event log. `seq` is the log offset that function cursors point at.
 * Accepted fare events and the events functions emit both live here.
 *
 * It has no index but the rowid, as each costs a b-tree insert per event: functions read by
 * seq (an index on (type, seq) cost about 1 µs per appended event), and keys are kept unique by
 * the log's in-memory key index (src/db/key-index.ts) instead of a unique index, which cost
 * 3.8 µs per event where keys arrive out of event-time order. Nor is `seq` AUTOINCREMENT: nothing
 * deletes from the log, so SQLite's max(seq) + 1 never reuses one.
 */
export const eventLog = sqliteTable(
  'event_log',
  {
    seq: integer('seq').primaryKey(),
    type: text('type').notNull(),
    /** Idempotency key; null for events emitted by functions, and where the payload derives it (fare events: src/db/payloads.ts). */
    key: text('key'),
    /**
     * Canonical content of keyed events stored before payloads were compared instead; null
     * since (a known key's stored payload is canonicalised to tell a duplicate from a conflict).
     */
    contentHash: text('content_hash'),
    series: text('series').notNull(),
    /** Event time (epoch ms), never the wall clock. */
    time: integer('time').notNull(),
    /** The seq of the client event this one descends from. */
    root: integer('root').notNull(),
    /** JSON; a fare event packed as an array of its fields by position (src/db/payloads.ts). */
    payload: text('payload').notNull(),
    createdAt: integer('created_at').notNull(),
  },
);

/**
 * The hashes of the log's idempotency keys, as the in-memory key index holds them: one block
 * per transaction that appended keyed events, `entries` a Float64Array of (hash, seq) pairs.
 * A restart loads the index from here instead of reading every event's key.
 */
export const eventKeyBlocks = sqliteTable('event_key_blocks', {
  id: integer('id').primaryKey(),
  entries: blob('entries', { mode: 'buffer' }).notNull(),
});

/** Each function's durable position in the log, like a consumer group's offset. */
export const functionCursors = sqliteTable('function_cursors', {
  functionId: text('function_id').primaryKey(),
  position: integer('position').notNull(),
});

/** Events that failed on a function's fast path: waiting for a retry, or dead-lettered. */
export const deliveries = sqliteTable(
  'deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    functionId: text('function_id').notNull(),
    seq: integer('seq').notNull(),
    series: text('series').notNull(),
    root: integer('root').notNull(),
    status: text('status', { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer('attempts').notNull(),
    dueAt: integer('due_at').notNull(),
    lastError: text('last_error'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('deliveries_function_seq').on(t.functionId, t.seq),
    index('deliveries_function_status_due').on(t.functionId, t.status, t.dueAt),
    index('deliveries_function_series_seq').on(t.functionId, t.series, t.seq),
  ],
);

/** The price history of each series (route + departure date), as written by extract-features. */
export const series = sqliteTable(
  'series',
  {
    key: text('key').primaryKey(),
    origin: text('origin').notNull(),
    destination: text('destination').notNull(),
    departureDate: text('departure_date').notNull(),
    currency: text('currency').notNull(),
    /** Float64 pairs (epoch ms, price), in time order. */
    points: blob('points', { mode: 'buffer' }).notNull(),
    observations: integer('observations').notNull(),
    lastObservedAt: integer('last_observed_at').notNull(),
  },
  (t) => [index('series_route_departure').on(t.origin, t.destination, t.departureDate)],
);

/** Running log-price statistics per route, currency and days-before bucket. */
export const routeStats = sqliteTable('route_stats', {
  key: text('key').primaryKey(),
  /** The buckets as JSON, as written before `packed`; read when `packed` is null. */
  buckets: text('buckets'),
  /** The buckets as packed Float64s (see encodeBuckets): what every write stores. */
  packed: blob('packed', { mode: 'buffer' }),
});

/** The latest forecast of each series, written by the predict function. */
export const forecasts = sqliteTable(
  'forecasts',
  {
    series: text('series').primaryKey(),
    origin: text('origin').notNull(),
    destination: text('destination').notNull(),
    departureDate: text('departure_date').notNull(),
    asOf: integer('as_of').notNull(),
    recommendation: text('recommendation').notNull(),
    probabilityCheaperLater: real('probability_cheaper_later').notNull(),
    expectedLowestPrice: real('expected_lowest_price').notNull(),
    /** The forecast without its outlook, as JSON. */
    payload: text('payload').notNull(),
    /**
     * The outlook's expected prices as packed Float64s, tomorrow first, as forecasts stored before
     * `outlook_curve` hold it; empty since.
     */
    outlook: blob('outlook', { mode: 'buffer' })
      .notNull()
      .default(sql`x''`),
    /** What the outlook is computed from, packed (`OutlookCurve`): a few dozen bytes, expanded when rendered. */
    outlookCurve: blob('outlook_curve', { mode: 'buffer' }),
    modelVersion: text('model_version').notNull(),
    /** Bumped on every write, so a reader can tell its cached rendering is stale. */
    revision: integer('revision').notNull().default(0),
  },
  (t) => [index('forecasts_route_departure').on(t.origin, t.destination, t.departureDate)],
);

/** Every model the retrain function produced, with its window, metrics and decision. */
export const models = sqliteTable('models', {
  version: text('version').primaryKey(),
  createdAt: integer('created_at').notNull(),
  status: text('status').notNull(),
  reason: text('reason').notNull(),
  decision: text('decision').notNull(),
  window: text('window').notNull(),
  metrics: text('metrics').notNull(),
  error: text('error'),
});

/** Small durable key-value state of functions, such as the retrain trigger's counters. */
export const functionState = sqliteTable('function_state', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: integer('updated_at')
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});
