/**
 * Baseline (a): the smallest hono app on @hono/node-server, one GET returning JSON.
 * Forecast reads are compared with it. Listens on 127.0.0.1:$PORT.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/hello', (c) => c.json({ hello: 'world' }));

const port = Number(process.env.PORT);
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
