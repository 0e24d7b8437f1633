import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { renderForecast } from '../../src/forecast/json.js';
import { createRenderCache, type RenderedForecast } from '../../src/forecast/render-cache.js';
import type { ForecastStamp } from '../../src/forecast/types.js';

const rendering = (body: string): RenderedForecast => ({ body: Buffer.from(body) as Buffer<ArrayBuffer>, etag: `"${body}"` });
const text = (rendered: RenderedForecast | undefined) => rendered?.body.toString('utf8');

/** A stored stamp per series that a test changes at will, counting how often it is read. */
function storedStamps(initial: Record<string, ForecastStamp>) {
  const stamps = new Map(Object.entries(initial));
  const reads: string[] = [];
  return {
    reads,
    set: (series: string, stamp: ForecastStamp | undefined) => (stamp ? stamps.set(series, stamp) : stamps.delete(series)),
    stampOf: (series: string) => {
      reads.push(series);
      return stamps.get(series);
    },
  };
}

describe('the rendered-forecast cache', () => {
  it('serves a body without reading the stamp while the generation stays, and checks it once the generation moves', () => {
    const cache = createRenderCache();
    const store = storedStamps({ A: { revision: 1, observations: 10 } });
    cache.set('A', { revision: 1, observations: 10 }, 7, rendering('a1'));
    expect(text(cache.get('A', 7, store.stampOf))).toBe('a1');
    expect(text(cache.get('A', 7, store.stampOf))).toBe('a1');
    expect(store.reads).toEqual([]);
    // Something was written somewhere: the stamp is read once, and the entry is good again for generation 8.
    expect(text(cache.get('A', 8, store.stampOf))).toBe('a1');
    expect(text(cache.get('A', 8, store.stampOf))).toBe('a1');
    expect(store.reads).toEqual(['A']);
  });

  it('drops a body whose stamp changed, and does not keep it for a later match', () => {
    const cache = createRenderCache();
    const store = storedStamps({ A: { revision: 1, observations: 10 } });
    cache.set('A', { revision: 1, observations: 10 }, 1, rendering('a1'));
    store.set('A', { revision: 2, observations: 10 });
    expect(cache.get('A', 2, store.stampOf)).toBeUndefined();
    store.set('A', { revision: 1, observations: 10 });
    expect(cache.get('A', 3, store.stampOf)).toBeUndefined();
    expect(cache.size).toBe(0);

    // A late observation changes the history, not the forecast's revision.
    cache.set('A', { revision: 1, observations: 10 }, 3, rendering('a1'));
    store.set('A', { revision: 1, observations: 11 });
    expect(cache.get('A', 4, store.stampOf)).toBeUndefined();
    // The forecast is gone from the store.
    cache.set('A', { revision: 1, observations: 11 }, 4, rendering('a1'));
    store.set('A', undefined);
    expect(cache.get('A', 5, store.stampOf)).toBeUndefined();
    expect(cache.get('B', 5, store.stampOf)).toBeUndefined();
  });

  it('evicts the least recently used bodies beyond its byte budget', () => {
    const cache = createRenderCache(3 * 10); // three 10-character ASCII bodies
    const stamp = { revision: 0, observations: 1 };
    const store = storedStamps({});
    for (const key of ['a', 'b', 'c']) cache.set(key, stamp, 1, rendering(key.repeat(10)));
    expect(cache.bytes).toBe(30);
    expect(text(cache.get('a', 1, store.stampOf))).toBe('aaaaaaaaaa'); // a is now the most recently used
    cache.set('d', stamp, 1, rendering('d'.repeat(10)));
    expect(cache.size).toBe(3);
    expect(cache.get('b', 1, store.stampOf)).toBeUndefined();
    expect(cache.get('a', 1, store.stampOf)).toBeDefined();
    expect(cache.get('c', 1, store.stampOf)).toBeDefined();
    expect(cache.get('d', 1, store.stampOf)).toBeDefined();
    cache.set('huge', stamp, 1, rendering('x'.repeat(100)));
    expect(cache.get('huge', 1, store.stampOf)).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it('counts the bodies’ bytes, not their characters', () => {
    const cache = createRenderCache(100);
    cache.set('a', { revision: 0, observations: 1 }, 1, rendering('€'.repeat(10)));
    expect(cache.bytes).toBe(30);
    cache.set('a', { revision: 0, observations: 1 }, 1, rendering('e'.repeat(10)));
    expect(cache.bytes).toBe(10);
  });
});

describe('a rendered forecast', () => {
  it('is the forecast’s JSON in UTF-8, in a buffer of its own', () => {
    const core = JSON.stringify({ origin: 'BCN', currency: 'EUR', model: { version: 'v€' } });
    const points = new Float64Array([Date.UTC(2016, 3, 1), 70, Date.UTC(2016, 3, 2), 65]);
    const { body: rendered } = renderForecast(core, [64.5, 63], points, Date.UTC(2016, 3, 2));
    expect(rendered.byteOffset).toBe(0);
    expect(rendered.buffer.byteLength).toBe(rendered.byteLength);
    expect(JSON.parse(rendered.toString('utf8'))).toEqual({
      origin: 'BCN',
      currency: 'EUR',
      model: { version: 'v€' },
      outlook: [
        { daysBefore: 1, expectedPrice: 64.5 },
        { daysBefore: 0, expectedPrice: 63 },
      ],
      history: [
        { observedAt: '2016-04-01T00:00:00.000Z', price: 70 },
        { observedAt: '2016-04-02T00:00:00.000Z', price: 65 },
      ],
    });
  });
});

describe('the entity tag of a rendered forecast', () => {
  const points = new Float64Array([Date.UTC(2016, 3, 1), 70, Date.UTC(2016, 3, 2), 65]);
  const render = (price: number) => renderForecast(JSON.stringify({ currentPrice: price }), [64.5, 63], points, Date.UTC(2016, 3, 2));

  it('is a quoted digest of the body: the same for the same bytes, another for other bytes', () => {
    const a = render(65);
    expect(a.etag).toMatch(/^"[\w-]{27}"$/);
    expect(render(65).etag).toBe(a.etag);
    expect(render(66).etag).not.toBe(a.etag);
    expect(a.etag).toBe(`"${createHash('sha1').update(a.body).digest('base64url')}"`);
  });
});
