/**
 * Batches per-step metric points and releases them at a bounded rate, so a fast trainer does not flood
 * the IPC channel or the UI (STYLE rule 4: 5–20 Hz). Like tfjs-layers' callbacks (base_callbacks.ts)
 * the clock is injected, so tests drive time by hand.
 */
export const METRICS_FLUSH_INTERVAL_MS = 125;

export type Clock = () => number;

export class MetricBatcher<T> {
  private buf: T[] = [];
  private last: number;

  constructor(
    private readonly flushFn: (batch: T[]) => void,
    private readonly now: Clock = () => performance.now(),
    /** 125 ms → 8 Hz, inside the 5–20 Hz band and tfjs-layers' default yield interval. */
    readonly intervalMs = METRICS_FLUSH_INTERVAL_MS,
  ) {
    this.last = now();
  }

  /** Queue a point; returns true if this push released a batch (a good moment to yield). */
  push(item: T): boolean {
    this.buf.push(item);
    if (this.now() - this.last >= this.intervalMs) {
      this.flush();
      return true;
    }
    return false;
  }

  /** Release whatever is queued now (before a checkpoint, on stop, at the end). */
  flush(): void {
    this.last = this.now();
    if (this.buf.length === 0) return;
    const batch = this.buf;
    this.buf = [];
    this.flushFn(batch);
  }

  get pending(): number {
    return this.buf.length;
  }
}
