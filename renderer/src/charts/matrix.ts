/** Normalisations of count matrices (class × expert routing, expert co-activation). */
export type Matrix = readonly (readonly number[])[];

/** Each row sums to 1 (a zero row stays zero): "where does class c go?" */
export function normaliseRows(m: Matrix): number[][] {
  return m.map((row) => {
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (s > 0 ? v / s : 0));
  });
}

/** Each column sums to 1 (a zero column stays zero): "what does expert e see?" */
export function normaliseColumns(m: Matrix): number[][] {
  const cols = Math.max(0, ...m.map((r) => r.length));
  const sums = new Array<number>(cols).fill(0);
  for (const row of m) row.forEach((v, j) => (sums[j] += v));
  return m.map((row) => row.map((v, j) => (sums[j]! > 0 ? v / sums[j]! : 0)));
}

/** Co-activation as a fraction of the diagonal's larger expert (1 on the diagonal). */
export function normaliseCoactivation(m: Matrix): number[][] {
  return m.map((row, i) =>
    row.map((v, j) => {
      const d = Math.max(m[i]?.[i] ?? 0, m[j]?.[j] ?? 0);
      return d > 0 ? v / d : 0;
    }),
  );
}
