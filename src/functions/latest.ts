import type { LoggedEvent } from '../runtime/types.js';

/** Where a series' latest observation sits in a batch, and its observedAt in epoch ms (the event's time). */
export interface Latest {
  index: number;
  observedMs: number;
}

/**
 * Each series' latest observation in a batch of events: the greatest event time (a fare event's
 * observedAt, which its features events carry on), a tie going to the later log entry.
 * extract-features computes features for these alone and predict forecasts from them, so the two
 * agree on which ones they are.
 */
export function latestPerSeries(events: readonly LoggedEvent[]): Map<string, Latest> {
  const latest = new Map<string, Latest>();
  for (let index = 0; index < events.length; index++) {
    const { series, time } = events[index];
    const seen = latest.get(series);
    if (!seen || time >= seen.observedMs) latest.set(series, { index, observedMs: time });
  }
  return latest;
}
