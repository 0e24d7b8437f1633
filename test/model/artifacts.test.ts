import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, readPointer, saveModel, writePointer } from '../../src/model/artifacts.js';
import { FEATURE_COUNT } from '../../src/model/features.js';
import { buildNetwork, OUTPUT_SIZE } from '../../src/model/network.js';
import { createModelProvider } from '../../src/model/provider.js';
import { createTinyModel, writeTinyModel } from '../../src/model/testing.js';
import { initTensorflow, tf } from '../../src/model/tf.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'faresight-models-'));
  dirs.push(dir);
  return dir;
}

function vectors(n: number, seed = 1): number[][] {
  let s = seed;
  const next = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return Array.from({ length: n }, () => Array.from({ length: FEATURE_COUNT }, next));
}

beforeAll(async () => {
  await initTensorflow();
});

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('network builder', () => {
  it('maps [n, FEATURE_COUNT] to [n, OUTPUT_SIZE]', () => {
    const network = buildNetwork({ inputSize: FEATURE_COUNT, hidden: [8, 4] });
    expect(network.inputs[0].shape).toEqual([null, FEATURE_COUNT]);
    const out = tf.tidy(() => network.predict(tf.zeros([3, FEATURE_COUNT])) as tf.Tensor);
    expect(out.shape).toEqual([3, OUTPUT_SIZE]);
    out.dispose();
    network.dispose();
  });
});

describe('model files', () => {
  it('save then load gives identical predictions', async () => {
    const dir = await tempDir();
    const model = await createTinyModel({ seed: 3 });
    await saveModel(dir, model.network, model.meta);
    const loaded = await loadModel(dir, model.version);
    const input = vectors(50);
    const before = model.predict(input);
    expect(loaded.predict(input)).toEqual(before);
    for (const p of before) {
      expect(p.lowestRatio.q10).toBeLessThanOrEqual(p.lowestRatio.q50);
      expect(p.lowestRatio.q50).toBeLessThanOrEqual(p.lowestRatio.q90);
      expect(p.lowestRatio.q90).toBeLessThanOrEqual(1);
    }
    model.dispose();
    loaded.dispose();
  });

  it('rejects a vector of the wrong length', async () => {
    const model = await createTinyModel();
    expect(() => model.predict([[1, 2, 3]])).toThrow(/expects/);
    model.dispose();
  });

  it('refuses truncated weights and models of another feature version', async () => {
    const dir = await tempDir();
    const version = await writeTinyModel(dir);
    const weights = await readFile(join(dir, version, 'weights.bin'));
    await writeFile(join(dir, version, 'weights.bin'), weights.subarray(0, 10));
    await expect(loadModel(dir, version)).rejects.toThrow(/bytes/);

    const other = await writeTinyModel(dir);
    const metaPath = join(dir, other, 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8'));
    await writeFile(metaPath, JSON.stringify({ ...meta, featureVersion: meta.featureVersion + 100 }));
    await expect(loadModel(dir, other)).rejects.toThrow(/feature version/);
  });

  it('writes the pointer atomically and reads it back', async () => {
    const dir = await tempDir();
    expect(await readPointer(dir)).toBeUndefined();
    await writePointer(dir, 'm1');
    expect(await readPointer(dir)).toBe('m1');
    await expect(writePointer(dir, '../evil')).rejects.toThrow(/invalid/);
  });
});

describe('model provider', () => {
  it('serves nothing without a pointer, then follows it', async () => {
    const dir = await tempDir();
    const provider = createModelProvider({ modelsDir: dir, pollIntervalMs: 60_000 });
    await provider.ready();
    expect(provider.current()).toBeUndefined();

    const first = await writeTinyModel(dir, { promote: true, seed: 1 });
    expect((await provider.refresh())?.version).toBe(first);
    const held = provider.current()!;

    const second = await writeTinyModel(dir, { promote: true, seed: 2 });
    await provider.refresh();
    expect(provider.current()?.version).toBe(second);
    // A request that still holds the old model can finish with it.
    expect(held.predict(vectors(1))).toHaveLength(1);
    provider.close();
  });

  it('keeps the last good model when the pointer names a corrupt one', async () => {
    const dir = await tempDir();
    const good = await writeTinyModel(dir, { promote: true });
    const provider = createModelProvider({ modelsDir: dir, pollIntervalMs: 60_000 });
    await provider.ready();
    expect(provider.current()?.version).toBe(good);

    const bad = await writeTinyModel(dir, { promote: true });
    await writeFile(join(dir, bad, 'model.json'), '{ not json');
    await provider.refresh();
    expect(provider.current()?.version).toBe(good);
    expect(provider.lastError()).toMatch(bad);

    await writePointer(dir, 'no-such-version');
    await provider.refresh();
    expect(provider.current()?.version).toBe(good);
    provider.close();
  });

  it('picks up a promotion by polling', async () => {
    const dir = await tempDir();
    const provider = createModelProvider({ modelsDir: dir, pollIntervalMs: 20 });
    await provider.ready();
    const version = await writeTinyModel(dir, { promote: true });
    await expect.poll(() => provider.current()?.version, { timeout: 10_000 }).toBe(version);
    provider.close();
  });
});
