import type { ForecastStamp } from './types.js';

/** The default memory the rendered forecasts may hold: about 6,000 typical forecasts. */
export const DEFAULT_RENDER_CACHE_BYTES = 64 * 1024 * 1024;

interface Entry extends ForecastStamp {
  body: string;
}

/**
 * Rendered forecast responses, by series, each valid for one stamp (forecast revision
 * and series observation count). A reader checks the stamp in the database first, so
 * a forecast written by another process is never served stale. Least recently used
 * entries go first once the bodies exceed `maxBytes` (UTF-16, so 2 bytes a character).
 */
export interface RenderCache {
  get(series: string, stamp: ForecastStamp): string | undefined;
  set(series: string, stamp: ForecastStamp, body: string): void;
  readonly size: number;
}

export function createRenderCache(maxBytes = DEFAULT_RENDER_CACHE_BYTES): RenderCache {
  const entries = new Map<string, Entry>();
  let bytes = 0;
  const drop = (series: string, entry: Entry) => {
    entries.delete(series);
    bytes -= entry.body.length * 2;
  };
  return {
    get(series, stamp) {
      const entry = entries.get(series);
      if (!entry) return undefined;
      if (entry.revision !== stamp.revision || entry.observations !== stamp.observations) {
        drop(series, entry);
        return undefined;
      }
      // Re-insert: a Map iterates in insertion order, so the first key is the least recently used.
      entries.delete(series);
      entries.set(series, entry);
      return entry.body;
    },
    set(series, stamp, body) {
      const size = body.length * 2;
      if (size > maxBytes) return;
      const old = entries.get(series);
      if (old) drop(series, old);
      entries.set(series, { revision: stamp.revision, observations: stamp.observations, body });
      bytes += size;
      for (const [key, entry] of entries) {
        if (bytes <= maxBytes) break;
        drop(key, entry);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
