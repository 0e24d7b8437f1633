import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { FareEvent } from '../events/fare-event.js';
import { splitValues } from '../importer/mapping.js';

/**
 * Reads a fare CSV with the Wizz Air data set's columns (see data/ and
 * ../shared/data/fares/README.md) into fare events, for the backtest. Plain or gzip.
 */
export async function readFareCsv(path: string): Promise<FareEvent[]> {
  const input = createReadStream(path);
  const parser = parse({ columns: true, skip_empty_lines: true });
  (path.endsWith('.gz') ? input.pipe(createGunzip()) : input).pipe(parser);
  const events: FareEvent[] = [];
  let line = 1;
  for await (const record of parser as AsyncIterable<Record<string, string>>) {
    line++;
    const price = Number(record.price_local);
    const ts = Number(record.search_ts_ms);
    if (!record.origin || !record.destination || !record.departure_date || !record.currency) {
      throw new Error(`${path}:${line}: a required column is empty or missing`);
    }
    if (!(price > 0) || !Number.isFinite(ts)) throw new Error(`${path}:${line}: bad price or search_ts_ms`);
    const flights = splitValues(record.flight_numbers ?? '');
    events.push({
      origin: record.origin,
      destination: record.destination,
      departureDate: record.departure_date,
      observedAt: new Date(ts).toISOString(),
      price,
      currency: record.currency,
      ...(record.carrier ? { carrier: record.carrier } : {}),
      ...(flights.length > 0 ? { flightNumbers: flights } : {}),
    });
  }
  return events;
}
