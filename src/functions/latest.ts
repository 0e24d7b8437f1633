import type { LoggedEvent } from '../runtime/types.js';

/** Where a series' latest observation sits in a batch, and its observedAt in epoch ms. */
export interface Latest {
  index: number;
  observedMs: number;
}

/**
 * Each series' latest observation in a batch of events: the greatest observedAt, a tie going to the
 * later log entry. extract-features computes features for these alone and predict forecasts from
 * them, so the two agree on which ones they are.
 */
export function latestPerSeries(events: readonly LoggedEvent<{ observedAt: string }>[], observedMs: ArrayLike<number>): Map<string, Latest> {
  const latest = new Map<string, Latest>();
  for (let index = 0; index < events.length; index++) {
    const seen = latest.get(events[index].series);
    if (!seen || observedMs[index] >= seen.observedMs) latest.set(events[index].series, { index, observedMs: observedMs[index] });
  }
  return latest;
}

/** observedAt of every event of a batch, in epoch ms. */
export function observedMsOf(events: readonly LoggedEvent<{ observedAt: string }>[]): Float64Array {
  return Float64Array.from(events, (event) => Date.parse(event.payload.observedAt));
}
