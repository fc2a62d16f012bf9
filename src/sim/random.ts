/**
 * @module sim/random — a small seeded PRNG (mulberry32), so a simulator run with `seed` is repeatable:
 * the same ids, jitter and injected faults for the same sequence of requests.
 */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` lower-case hex characters from the generator. */
export function randomHex(rng: Random, n: number): string {
  let s = '';
  while (s.length < n)
    s += Math.floor(rng() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s.slice(0, n);
}
