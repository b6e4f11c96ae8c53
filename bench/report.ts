/** Printing helpers: aligned tables on stdout, progress on stderr, and small number formatters. */

export type Cell = string | number;

/** A number with thousands separators and at most `decimals` decimals. */
export function fmt(value: number, decimals = 0): string {
  return value.toLocaleString('en', { maximumFractionDigits: decimals, minimumFractionDigits: decimals });
}

/** Prints a titled table: numbers right-aligned, text left-aligned, columns sized to fit. */
export function printTable(title: string, header: string[], rows: Cell[][]): void {
  const text = rows.map((row) => row.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((row) => (row[i] ?? '').length)));
  const numeric = header.map((_, i) =>
    rows.every((row) => typeof row[i] === 'number' || /^[\d,.<≥ -]+/.test(String(row[i]))),
  );
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of text) console.log(line(row));
}

/** A progress line on stderr, prefixed with the seconds since the run started. */
export function progress(message: string): void {
  process.stderr.write(`[${(performance.now() / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

/** The q-quantile (0..1) of values already sorted ascending (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** "12,345 (≥ 2,000)": a measured value next to the target it is compared with. */
export function versus(value: number, target: string, decimals = 0): string {
  return `${fmt(value, decimals)} (${target})`;
}
