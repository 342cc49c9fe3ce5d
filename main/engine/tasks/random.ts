/**
 * A small seeded PRNG so every generated dataset is reproducible from its seed (Math.random
 * cannot be seeded). mulberry32: 32 bits of state, fast, and good enough for sampling prompts.
 */
export type Rng = () => number;

/** Returns a generator of floats in [0, 1); the same seed always gives the same sequence. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    // Kept in uint32 so the sequence never drifts once the sum would exceed 2^53.
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi], both inclusive. */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)];
}

/** `k` distinct items in random order (a partial Fisher-Yates shuffle of a copy). */
export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  if (k > items.length) throw new RangeError(`cannot sample ${k} of ${items.length} items`);
  const copy = items.slice();
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, k);
}
