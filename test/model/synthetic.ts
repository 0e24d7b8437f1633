import type { FareEvent } from '../../src/events/fare-event.js';

const DAY_MS = 86_400_000;

export interface SyntheticOptions {
  /** First departure date (YYYY-MM-DD). */
  firstDeparture?: string;
  departures?: number;
  /** Days before departure of the first observation of each series. */
  horizon?: number;
  routes?: readonly { origin: string; destination: string; currency: string; base: number }[];
  /** The last observation time (ISO); later observations are left out, as by a scrape that stopped. */
  until?: string;
}

const DEFAULT_ROUTES = [
  { origin: 'AAA', destination: 'BBB', currency: 'EUR', base: 80 },
  { origin: 'CCC', destination: 'DDD', currency: 'PLN', base: 350 },
] as const;

/**
 * Daily fare observations with a learnable rule: departures on even days of the month
 * are priced high far out and fall to a low fare 8 days before departure; the others
 * start low and only rise. Deterministic.
 */
export function syntheticFares(options: SyntheticOptions = {}): FareEvent[] {
  const first = Date.parse(`${options.firstDeparture ?? '2016-01-20'}T00:00:00Z`);
  const departures = options.departures ?? 40;
  const horizon = options.horizon ?? 30;
  const until = options.until ? Date.parse(options.until) : Infinity;
  const events: FareEvent[] = [];
  for (const route of options.routes ?? DEFAULT_ROUTES) {
    for (let d = 0; d < departures; d++) {
      const departure = first + d * DAY_MS;
      const departureDate = new Date(departure).toISOString().slice(0, 10);
      const dropping = new Date(departure).getUTCDate() % 2 === 0;
      for (let before = horizon; before >= 0; before--) {
        const t = departure - before * DAY_MS + 9 * 3_600_000;
        if (t > until) continue;
        let factor: number;
        if (dropping) factor = before > 8 ? 1.6 : 0.8 + 0.02 * (8 - before);
        else factor = 1 + 0.03 * (horizon - before);
        events.push({
          origin: route.origin,
          destination: route.destination,
          departureDate,
          observedAt: new Date(t).toISOString(),
          price: Math.round(route.base * factor * 100) / 100,
          currency: route.currency,
        });
      }
    }
  }
  return events;
}
