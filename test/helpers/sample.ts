import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { FareEventBody } from './events.js';

/** The real Wizz Air sample shipped in data/. */
export const SAMPLE_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'wizz-sample.csv.gz');

export interface SampleFilter {
  /** Directed routes to keep, e.g. ['CRL-OTP']; all when absent. */
  routes?: readonly string[];
  /** Inclusive departure date bounds, YYYY-MM-DD. */
  fromDeparture?: string;
  toDeparture?: string;
}

let cached: { columns: Map<string, number>; lines: string[] } | undefined;

function sampleLines() {
  if (!cached) {
    const [header, ...lines] = gunzipSync(readFileSync(SAMPLE_PATH)).toString('utf8').split('\n');
    cached = { columns: new Map(header.split(',').map((name, i) => [name, i])), lines: lines.filter((l) => l !== '') };
  }
  return cached;
}

/**
 * Fare events (as a client would POST them) from the real sample, in file order.
 * The sample's cells hold no commas or quotes, so a plain split reads it exactly.
 */
export function sampleEvents(filter: SampleFilter = {}): FareEventBody[] {
  const { columns, lines } = sampleLines();
  const at = (name: string) => {
    const i = columns.get(name);
    if (i === undefined) throw new Error(`the sample has no ${name} column`);
    return i;
  };
  const [origin, destination, departure, ts, price, currency, carrier, flights] = [
    'origin',
    'destination',
    'departure_date',
    'search_ts_ms',
    'price_local',
    'currency',
    'carrier',
    'flight_numbers',
  ].map(at);
  const routes = filter.routes ? new Set(filter.routes) : undefined;
  const events: FareEventBody[] = [];
  for (const line of lines) {
    const cells = line.split(',');
    if (routes && !routes.has(`${cells[origin]}-${cells[destination]}`)) continue;
    if (filter.fromDeparture && cells[departure] < filter.fromDeparture) continue;
    if (filter.toDeparture && cells[departure] > filter.toDeparture) continue;
    events.push({
      origin: cells[origin],
      destination: cells[destination],
      departureDate: cells[departure],
      observedAt: new Date(Number(cells[ts])).toISOString(),
      price: Number(cells[price]),
      currency: cells[currency],
      carrier: cells[carrier],
      flightNumbers: cells[flights].split(/\s+/).filter(Boolean),
    });
  }
  return events;
}
