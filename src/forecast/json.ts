/**
 * The public forecast as JSON text, built from its stored parts without building the
 * object: the core JSON as saved, the packed outlook and the series' prices. This is
 * the read path of GET /v1/forecast, so it does no more than string work.
 */
import { createHash } from 'node:crypto';
import type { RenderedForecast } from './render-cache.js';

/** The outlook points of packed prices, as JSON: point i is for daysBefore n − 1 − i. */
export function outlookJson(prices: ArrayLike<number>): string {
  const n = prices.length;
  let out = '[';
  for (let i = 0; i < n; i++) {
    if (i > 0) out += ',';
    out += `{"daysBefore":${n - 1 - i},"expectedPrice":${prices[i]}}`;
  }
  return `${out}]`;
}

// ISO text of the timestamps seen: fares are scraped in rounds, so many series share each one.
const MAX_CACHED_TIMES = 200_000;
const isoTimes = new Map<number, string>();
function isoOf(t: number): string {
  let iso = isoTimes.get(t);
  if (iso === undefined) {
    iso = new Date(t).toISOString();
    if (isoTimes.size >= MAX_CACHED_TIMES) isoTimes.clear();
    isoTimes.set(t, iso);
  }
  return iso;
}

/** The observed prices up to `asOfMs`, from packed (epoch ms, price) pairs in time order, as JSON history points. */
export function historyJson(points: Float64Array, asOfMs: number): string {
  let out = '[';
  for (let i = 0; i + 1 < points.length; i += 2) {
    const t = points[i];
    if (t > asOfMs) break;
    if (i > 0) out += ',';
    out += `{"observedAt":"${isoOf(t)}","price":${points[i + 1]}}`;
  }
  return `${out}]`;
}

/** The whole public forecast: the core's fields, then outlook and history. */
export function forecastJson(coreJson: string, outlookPrices: ArrayLike<number>, points: Float64Array, asOfMs: number): string {
  return `${coreJson.slice(0, -1)},"outlook":${outlookJson(outlookPrices)},"history":${historyJson(points, asOfMs)}}`;
}

/** A strong entity tag of a body: a digest of its bytes, quoted as HTTP writes it. */
export function entityTagOf(body: Uint8Array): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

/**
 * The whole public forecast as a response body: UTF-8 JSON in a buffer of its own (not a
 * slice of Node's shared pool), so a cache may keep it for long, with its entity tag,
 * computed once here rather than on every response that sends it.
 */
export function renderForecast(coreJson: string, outlookPrices: ArrayLike<number>, points: Float64Array, asOfMs: number): RenderedForecast {
  const text = forecastJson(coreJson, outlookPrices, points, asOfMs);
  const body = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  body.write(text);
  return { body, etag: entityTagOf(body) };
}
