import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../src/http/events.js';
import { closeServices, fareEvent, makeService, post } from '../helpers/index.js';

afterEach(closeServices);

/** Nesting depth of arrays and objects in a parsed JSON value. */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

describe('exceedsJsonDepth', () => {
  it('agrees with the depth of the parsed value, strings with brackets and escapes included', () => {
    const tricky = fc.oneof(fc.string(), fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\"', '["', '"]', '\\\\"[['));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        tricky,
        fc.double(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(tricky, tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 8 }), fc.boolean(), (v, max, pretty) => {
        const text = pretty ? JSON.stringify(v, null, 2) : JSON.stringify(v);
        expect(exceedsJsonDepth(text, max)).toBe(depthOf(JSON.parse(text)) > max);
      }),
      { numRuns: 2000 },
    );
  });

  it('treats each NDJSON line as its own document', () => {
    const line = JSON.stringify([[[1]]]);
    expect(exceedsJsonDepth(Array(50).fill(line).join('\n'), 3, true)).toBe(false);
    expect(exceedsJsonDepth(Array(50).fill(line).join('\n'), 2, true)).toBe(true);
  });

  it('is the reason a deeply nested body is a quick 400, in every format', async () => {
    const service = makeService();
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    const field = JSON.stringify(fareEvent()).slice(0, -1) + `,"flightNumbers":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`;
    for (const [body, contentType] of [
      [deep, 'application/json'],
      [deep, 'application/x-ndjson'],
      [field, 'application/json'],
    ]) {
      const res = await post(service.app, body, { contentType });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/deeper than/);
    }
    // Real events are far from the limit.
    expect((await post(service.app, [fareEvent()])).status).toBe(202);
  });
});
