/** The colour bar of a heatmap or matrix: the ramp from its lowest to its highest value, labelled. */
import { rampCss } from './heatmapColor.js';
import { fmt } from './LineChart.js';

export function ColorScale({ min = 0, max, label, testId }: { min?: number; max: number; label: string; testId?: string }) {
  const stops = Array.from({ length: 11 }, (_, i) => `${rampCss(i / 10)} ${i * 10}%`).join(', ');
  return (
    <div className="color-scale" data-testid={testId} aria-label={`colour scale: ${label}, ${fmt(min)} to ${fmt(max)}`} role="img">
      <span className="muted">{fmt(min)}</span>
      <span className="color-bar" style={{ background: `linear-gradient(to right, ${stops})` }} />
      <span className="muted">{fmt(max)}</span>
      <span className="muted color-scale-label">{label}</span>
    </div>
  );
}
