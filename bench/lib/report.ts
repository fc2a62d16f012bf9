/** Prints one benchmark's figures beside the bound or peer they are compared with. */
export interface BenchLine {
  readonly bench: string;
  readonly figures: Record<string, string | number>;
  readonly goal: string;
  readonly met: boolean;
}

export function report(line: BenchLine): void {
  const figs = Object.entries(line.figures)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : v}`)
    .join('  ');
  console.log(`[${line.bench}] ${figs}`);
  console.log(`[${line.bench}] goal: ${line.goal} → ${line.met ? 'MET' : 'NOT MET'}`);
  if (process.env.BENCH_JSON) console.log(JSON.stringify(line));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
