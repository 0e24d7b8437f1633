/**
 * Baseline (b): hono + zod + better-sqlite3 doing the least an ingest endpoint can:
 * validate one fare event with a small zod schema and insert it with a prepared
 * statement, WAL mode. Single-event ingest is compared with it. Listens on 127.0.0.1:$PORT,
 * writes to $DB_PATH.
 */
import { serve } from '@hono/node-server';
import Database from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';

const FareEvent = z.object({
  origin: z.string().length(3),
  destination: z.string().length(3),
  departureDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  observedAt: z.string().datetime({ offset: true }),
  price: z.number().positive(),
  currency: z.string().length(3),
});

const db = new Database(process.env.DB_PATH ?? ':memory:');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE IF NOT EXISTS fares (
  id INTEGER PRIMARY KEY, origin TEXT NOT NULL, destination TEXT NOT NULL, departure_date TEXT NOT NULL,
  observed_at TEXT NOT NULL, price REAL NOT NULL, currency TEXT NOT NULL)`);
const insert = db.prepare(
  'INSERT INTO fares (origin, destination, departure_date, observed_at, price, currency) VALUES (?, ?, ?, ?, ?, ?)',
);

const app = new Hono();
app.post('/events', async (c) => {
  const result = FareEvent.safeParse(await c.req.json());
  if (!result.success) return c.json({ error: result.error.issues }, 400);
  const e = result.data;
  insert.run(e.origin, e.destination, e.departureDate, e.observedAt, e.price, e.currency);
  return c.json({ accepted: 1 }, 202);
});

const port = Number(process.env.PORT);
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => {
  db.close();
  process.exit(0);
}));
