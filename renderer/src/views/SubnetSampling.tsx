import { ColorScale } from '../charts/ColorScale.js';
import { HeatmapCanvas } from '../charts/HeatmapCanvas.js';
import { rampCss } from '../charts/heatmapColor.js';
import { samplingStats } from '../charts/samplingStats.js';
import { useFrameValue } from '../components/hooks.js';
import { useWorkbench } from '../store/store.js';
import { activePositions, archPositions, type ArchPosition } from '../../../core/space/archCodec.js';
import type { SearchSpace } from '../../../core/space/SearchSpace.js';

/** Position names and choice values from the run's space; v0… where the space is unknown or does not fit. */
function positionsOf(space: SearchSpace | undefined, dims: number): ArchPosition[] | null {
  if (!space) return null;
  const pos = archPositions(space);
  return pos.length === dims ? pos : null;
}

export function SubnetSampling() {
  const metrics = useFrameValue((s) => s.metrics);
  const space = useWorkbench((s) => s.activeRecord?.config.space);
  const nPositions = space ? archPositions(space).length : -1;
  const fits = (vec: readonly number[]) => vec.length === nPositions;
  const st = samplingStats(metrics, 600, (vec) => (fits(vec) ? activePositions(space!, vec) : vec.map(() => true)));
  const positions = positionsOf(space, st?.dims ?? -1);
  const label = (d: number) => positions?.[d]?.label ?? `v${d}`;
  const choice = (d: number, v: number) => positions?.[d]?.choices[v] ?? String(v);
  if (!st)
    return (
      <section className="panel" data-testid="sampling-empty">
        <h3>Sampled subnets</h3>
        <p className="muted">Supernet runs (SPOS, sandwich) show which subnet each step trained.</p>
      </section>
    );
  return (
    <section className="panel sampling" aria-label="Sampled subnets" data-testid="sampling">
      <h3>Sampled subnets</h3>
      <p className="muted legend-line">x: steps · y: architecture-vector entry · colour: chosen value (scaled per entry)</p>
      <HeatmapCanvas
        columns={st.columns}
        rows={st.dims}
        rowLabels={Array.from({ length: st.dims }, (_, d) => label(d))}
        max={1}
        height={Math.max(60, Math.min(240, st.dims * 14))}
        testId="sampling-heatmap"
        label="Architecture vector per training step"
      />
      <ColorScale min={0} max={1} label="chosen value, smallest → largest choice of the entry" testId="sampling-heatmap-scale" />
      <h4>How often each choice was sampled ({st.steps} steps)</h4>
      <div className="choice-bars" data-testid="sampling-counts">
        {st.counts.map((m, d) => {
          const entries = [...m.entries()].sort((a, b) => a[0] - b[0]);
          const top = Math.max(...entries.map((e) => e[1]));
          return (
            <div key={d} className="choice-row">
              <span className="choice-dim">{label(d)}</span>
              {entries.map(([v, n]) => (
                <span key={v} className="choice-bar" title={`${label(d)} = ${choice(d, v)}: ${n} steps`}>
                  <span className="bar" style={{ height: `${Math.round((n / top) * 28) + 2}px`, background: rampCss(n / top) }} />
                  <span className="tick">{choice(d, v)}</span>
                </span>
              ))}
            </div>
          );
        })}
      </div>
    </section>
  );
}
