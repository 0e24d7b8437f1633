import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { FareEvent } from '../../src/events/fare-event.js';

/** The shared Wizz Air observations: 556,686 rows, sorted by series. */
export const SHARED_FARES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data/fares/wizz-fares.csv.gz');

/** A fare event as the API takes it (the fields the Wizz data has: no client id). */
export type BenchFare = Omit<FareEvent, 'id'>;

/** Observations plus the series they cover. */
export interface FareData {
  fares: BenchFare[];
  /** Distinct series, with the time of their last observation (epoch ms). */
  series: { origin: string; destination: string; departureDate: string; lastObservedMs: number }[];
}

/**
 * Reads the Wizz fare CSV. `keepEvery` > 1 keeps one series in that many (whole series,
 * every route), for quick runs. The file has no quoted fields; a quote is an error.
 */
export function readFares(path: string, keepEvery = 1): FareData {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  const lines = text.split('\n');
  const header = lines[0].split(',');
  const col = (name: string) => {
    const index = header.indexOf(name);
    if (index < 0) throw new Error(`${path} has no column ${name}`);
    return index;
  };
  const [iSeries, iOrigin, iDest, iDeparture, iTs, iPrice, iCurrency, iCarrier, iFlights] = [
    'series_id', 'origin', 'destination', 'departure_date', 'search_ts_ms', 'price_local', 'currency', 'carrier', 'flight_numbers',
  ].map(col);
  const fares: BenchFare[] = [];
  const series: FareData['series'] = [];
  let current = '';
  let seriesIndex = -1;
  let keep = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    if (line.includes('"')) throw new Error(`${path}:${i + 1} has a quoted field; this reader does not handle them`);
    const f = line.split(',');
    if (f[iSeries] !== current) {
      current = f[iSeries];
      seriesIndex++;
      keep = seriesIndex % keepEvery === 0;
      if (keep) series.push({ origin: f[iOrigin], destination: f[iDest], departureDate: f[iDeparture], lastObservedMs: 0 });
    }
    if (!keep) continue;
    const observedMs = Number(f[iTs]);
    // The file separates multiple flights with ';' (its README says spaces).
    const flights = f[iFlights].split(/[ ;]+/).filter(Boolean);
    fares.push({
      origin: f[iOrigin],
      destination: f[iDest],
      departureDate: f[iDeparture],
      observedAt: new Date(observedMs).toISOString(),
      price: Number(f[iPrice]),
      currency: f[iCurrency],
      ...(f[iCarrier] ? { carrier: f[iCarrier] } : {}),
      ...(flights.length > 0 ? { flightNumbers: flights } : {}),
    });
    const s = series[series.length - 1];
    s.lastObservedMs = Math.max(s.lastObservedMs, observedMs);
  }
  return { fares, series };
}

/** Fares in observedAt order (stable), as a live feed would send them. */
export function inTimeOrder(fares: readonly BenchFare[]): BenchFare[] {
  return fares
    .map((fare, index) => ({ fare, index, t: Date.parse(fare.observedAt) }))
    .sort((a, b) => a.t - b.t || a.index - b.index)
    .map((x) => x.fare);
}

/** Splits into request bodies of `size` events each, serialised up front so the clock measures the server. */
export function batchBodies(fares: readonly BenchFare[], size: number): { body: string; count: number }[] {
  const bodies: { body: string; count: number }[] = [];
  for (let i = 0; i < fares.length; i += size) {
    const chunk = fares.slice(i, i + size);
    bodies.push({ body: JSON.stringify(chunk), count: chunk.length });
  }
  return bodies;
}

/**
 * An endless supply of distinct, valid single events for ingest load: `seriesCount`
 * synthetic series on real airport codes, each observed once a minute, so no two
 * events share a key and no series grows much faster than a real one.
 */
export function uniqueEventSource(seriesCount = 2000, startMs = Date.parse('2030-01-01T00:00:00Z')) {
  const airports = ['BCN', 'BUD', 'CRL', 'OTP', 'MLH', 'SKP', 'MMX', 'BGY', 'VKO', 'WAW', 'LTN', 'PRG'];
  const routes: [string, string][] = [];
  for (const a of airports) for (const b of airports) if (a !== b) routes.push([a, b]);
  let n = 0;
  return (): string => {
    const s = n % seriesCount;
    const step = Math.floor(n / seriesCount);
    n++;
    const [origin, destination] = routes[s % routes.length];
    // Departures spread over a year from 2031, far after every observedAt this produces.
    const departure = new Date(Date.parse('2031-01-01T00:00:00Z') + Math.floor(s / routes.length) * 86_400_000);
    return JSON.stringify({
      origin,
      destination,
      departureDate: departure.toISOString().slice(0, 10),
      observedAt: new Date(startMs + step * 60_000).toISOString(),
      price: 20 + ((s * 7 + step * 13) % 180) + 0.99,
      currency: 'EUR',
    });
  };
}
