/**
 * DARTS's view (core/train/strategies/darts.ts): per edge, the architecture weights softmax(α) after the
 * search beside the perturbation importance of each choice — how much validation accuracy fell when it was
 * removed — which is what DARTS-PT decides by; the kept choice is marked. They often disagree (Wang et
 * al., 2021: α's magnitude is not the op's strength). Nothing for other strategies.
 */
import { decodeDartsEdges, removalImportance, type DartsEdgeView } from '../../../core/protocol/dartsReport.js';
import { archPositions, type ArchPosition } from '../../../core/space/archCodec.js';
import { rampCss } from '../charts/heatmapColor.js';
import { useFrameValue } from '../components/hooks.js';
import { useWorkbench } from '../store/store.js';

function Bars({ values, labels, chosen, title, testId }: { values: readonly number[]; labels: readonly string[]; chosen: number | null; title: string; testId: string }) {
  const top = Math.max(1e-9, ...values.map(Math.abs));
  return (
    <span className="choice-row" data-testid={testId}>
      <span className="choice-dim">{title}</span>
      {values.map((v, c) => (
        <span key={c} className="choice-bar" title={`${labels[c]}: ${v.toFixed(3)}${c === chosen ? ' (kept)' : ''}`}>
          <span className="bar" style={{ height: `${Math.round((Math.max(0, v) / top) * 28) + 2}px`, background: c === chosen ? 'var(--series-2)' : rampCss(Math.max(0, v) / top) }} />
          <span className="tick">{c === chosen ? `${labels[c]} ✓` : labels[c]}</span>
        </span>
      ))}
    </span>
  );
}

function Edge({ edge, pos }: { edge: DartsEdgeView; pos: ArchPosition | undefined }) {
  const labels = edge.weights.map((_, c) => pos?.choices[c] ?? String(c));
  const s = edge.selection;
  return (
    <div className="choice-bars" data-testid={`darts-edge-${edge.position}`}>
      <strong>{pos?.label ?? `position ${edge.position}`}</strong>
      <Bars values={edge.weights} labels={labels} chosen={s?.chosen ?? null} title="softmax(α)" testId={`darts-alpha-${edge.position}`} />
      {s ? (
        <Bars values={removalImportance(s)} labels={labels} chosen={s.chosen} title={`accuracy drop when removed (step ${s.step})`} testId={`darts-importance-${edge.position}`} />
      ) : (
        <span className="muted">not decided yet</span>
      )}
    </div>
  );
}

export function DartsPanel() {
  const metrics = useFrameValue((s) => s.metrics);
  const space = useWorkbench((s) => s.activeRecord?.config.space);
  let edges: DartsEdgeView[] | null = null;
  for (let i = metrics.length - 1; i >= 0 && !edges; i--) edges = decodeDartsEdges(metrics[i]!.strategy);
  if (!edges) return null;
  const positions = space ? archPositions(space) : [];
  const decided = edges.filter((e) => e.selection).length;
  return (
    <details open className="panel" data-testid="darts-panel">
      <summary>
        DARTS: α per edge vs perturbation importance ({decided}/{edges.length} edges decided)
      </summary>
      {edges.map((e) => (
        <Edge key={e.position} edge={e} pos={positions[e.position]} />
      ))}
    </details>
  );
}
