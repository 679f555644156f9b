/** A canvas heatmap: one column per point in time, one row per slot. Canvas keeps long runs cheap. */
import { useEffect, useRef } from 'react';
import { useSize } from '../components/hooks.js';
import { ChartDownloads } from './ChartDownloads.js';
import { matrixCsv } from './download.js';
import { fillHeatmap } from './heatmapColor.js';

interface Props {
  columns: readonly (readonly number[])[];
  rows: number;
  rowLabels?: readonly string[];
  max?: number;
  height?: number;
  testId: string;
  label: string;
}

export function HeatmapCanvas({ columns, rows, rowLabels, max, height = 120, testId, label }: Props) {
  const ref = useRef<HTMLCanvasElement | null>(null);
  // Redrawn when its box changes: the canvas's pixels follow the layout, never drive it.
  const [measure, box] = useSize<HTMLCanvasElement>();
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || rows === 0) return;
    const w = Math.max(1, columns.length);
    const img = new ImageData(w, rows);
    if (columns.length) fillHeatmap(img.data, columns, rows, max);
    const off = document.createElement('canvas');
    off.width = w;
    off.height = rows;
    off.getContext('2d')!.putImageData(img, 0, 0);
    const ctx = canvas.getContext('2d')!;
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(rect.width * dpr));
    canvas.height = Math.max(1, Math.round(rect.height * dpr));
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (columns.length) ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  }, [columns, rows, max, box.width, box.height]);
  const slots = rowLabels ?? Array.from({ length: rows }, (_, i) => `row ${i}`);
  return (
    <>
    <div className="heatmap">
      {rowLabels ? (
        <div className="heatmap-rows" style={{ height }} aria-hidden="true">
          {rowLabels.map((l, i) => (
            <span key={i}>{l}</span>
          ))}
        </div>
      ) : null}
      <canvas
        ref={(el) => {
          ref.current = el;
          measure(el);
        }}
        className="heatmap-canvas"
        style={{ height }}
        data-testid={testId}
        data-columns={columns.length}
        role="img"
        aria-label={label}
      />
    </div>
    {/* after the canvas, and not named heatmap-…: tests find heatmaps by that prefix */}
    <div className="heatmap-tools">
      <ChartDownloads name={label} canvas={() => ref.current} csv={() => matrixCsv('point', columns.map((_, i) => String(i)), slots, columns)} testId={`dl-${testId}`} />
    </div>
    </>
  );
}
