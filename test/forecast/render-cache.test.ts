import { describe, expect, it } from 'vitest';
import { createRenderCache } from '../../src/forecast/render-cache.js';

describe('the rendered-forecast cache', () => {
  it('serves a body only for the stamp it was rendered at', () => {
    const cache = createRenderCache();
    cache.set('A', { revision: 1, observations: 10 }, 'a1');
    expect(cache.get('A', { revision: 1, observations: 10 })).toBe('a1');
    expect(cache.get('A', { revision: 2, observations: 10 })).toBeUndefined();
    // A stale entry is dropped, not kept for a later match.
    expect(cache.get('A', { revision: 1, observations: 10 })).toBeUndefined();
    cache.set('A', { revision: 1, observations: 10 }, 'a1');
    expect(cache.get('A', { revision: 1, observations: 11 })).toBeUndefined();
    expect(cache.get('B', { revision: 1, observations: 10 })).toBeUndefined();
  });

  it('evicts the least recently used bodies beyond its byte budget', () => {
    const cache = createRenderCache(3 * 2 * 10); // three 10-character bodies
    const stamp = { revision: 0, observations: 1 };
    for (const key of ['a', 'b', 'c']) cache.set(key, stamp, key.repeat(10));
    expect(cache.get('a', stamp)).toBe('aaaaaaaaaa'); // a is now the most recently used
    cache.set('d', stamp, 'd'.repeat(10));
    expect(cache.size).toBe(3);
    expect(cache.get('b', stamp)).toBeUndefined();
    expect(cache.get('a', stamp)).toBeDefined();
    expect(cache.get('c', stamp)).toBeDefined();
    expect(cache.get('d', stamp)).toBeDefined();
    cache.set('huge', stamp, 'x'.repeat(100));
    expect(cache.get('huge', stamp)).toBeUndefined();
    expect(cache.size).toBe(3);
  });
});
