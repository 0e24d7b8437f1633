import { touch } from '../lib/recency.js';
import type { ForecastStamp } from './types.js';

/**
 * The default memory the rendered forecasts may hold: about 9,000 forecasts of 11 KB (a departure
 * observed daily for four months), all 7,541 series of the shared Wizz data.
 */
export const DEFAULT_RENDER_CACHE_BYTES = 96 * 1024 * 1024;

/** One rendered forecast response, ready to send: the whole public forecast as UTF-8 JSON, and its entity tag. */
export interface RenderedForecast {
  body: Buffer<ArrayBuffer>;
  /** A strong entity tag (quoted) of exactly these bytes, for conditional requests. */
  etag: string;
}

interface Entry extends ForecastStamp {
  rendered: RenderedForecast;
  /** The store generation in which the stamp was last found current. */
  checked: number;
}

/**
 * Rendered forecast responses, by series, each valid for one stamp (forecast revision
 * and series observation count). An entry is served without a look at its stamp while
 * the store's generation is the one it was last checked in; once the generation moved
 * (anything was written, here or by another process), the stamp is read again and the
 * entry is kept if it still matches, or dropped. Least recently used entries go first
 * once the bodies exceed `maxBytes`. Bodies are kept encoded, so a response writes them
 * as they are.
 */
export interface RenderCache {
  /**
   * The rendering of this series if it is current in `generation`; `stampOf` reads the
   * stored stamp when the entry was last checked in another generation. Take the
   * generation before anything `stampOf` reads, so a write in between is seen next time.
   */
  get(series: string, generation: number, stampOf: (series: string) => ForecastStamp | undefined): RenderedForecast | undefined;
  /** Keeps a rendering of the forecast stored at `stamp`, read in `generation`. */
  set(series: string, stamp: ForecastStamp, generation: number, rendered: RenderedForecast): void;
  readonly size: number;
  /** Memory the kept bodies hold, in bytes. */
  readonly bytes: number;
}

export function createRenderCache(maxBytes = DEFAULT_RENDER_CACHE_BYTES): RenderCache {
  const entries = new Map<string, Entry>();
  let bytes = 0;
  const drop = (series: string, entry: Entry) => {
    entries.delete(series);
    bytes -= entry.rendered.body.byteLength;
  };
  return {
    get(series, generation, stampOf) {
      const entry = entries.get(series);
      if (!entry) return undefined;
      if (entry.checked !== generation) {
        const stamp = stampOf(series);
        if (!stamp || entry.revision !== stamp.revision || entry.observations !== stamp.observations) {
          drop(series, entry);
          return undefined;
        }
        entry.checked = generation;
      }
      touch(entries, series, entry);
      return entry.rendered;
    },
    set(series, stamp, generation, rendered) {
      const size = rendered.body.byteLength;
      if (size > maxBytes) return;
      const old = entries.get(series);
      if (old) drop(series, old);
      entries.set(series, { revision: stamp.revision, observations: stamp.observations, checked: generation, rendered });
      bytes += size;
      for (const [key, entry] of entries) {
        if (bytes <= maxBytes) break;
        drop(key, entry);
      }
    },
    get size() {
      return entries.size;
    },
    get bytes() {
      return bytes;
    },
  };
}
