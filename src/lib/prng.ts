/**
 * mulberry32: a small seeded generator of 32-bit unsigned integers, so that a seed
 * reproduces a training run, a crash test or a fuzz run.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The same generator as floats in [0, 1). */
export function prng(seed: number): () => number {
  const bits = mulberry32(seed);
  return () => bits() / 4294967296;
}
