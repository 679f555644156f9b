/**
 * Token view (issue 12): a validation batch of a token workload routed by the subnet (`run.tokenRouting`,
 * one inference forward in the core): the text, or the image patches as a grid, coloured by the expert each
 * token went to in the picked layer, its gates on hover; the per-position load as a chart; and the
 * expert × token-class matrix. ./tokenViewData.ts shapes the data; this file only renders.
 */
import { useEffect, useMemo, useState } from 'react';
import type { TokenRouting } from '../../../core/protocol/protocol.js';
import { largestArch } from '../../../core/space/archCodec.js';
import { describeBlock } from '../../../core/space/blocks/registry.js';
import { categoryColor } from '../charts/heatmapColor.js';
import { LineChart } from '../charts/LineChart.js';
import { MatrixView } from '../charts/MatrixView.js';
import { core, errorText } from '../store/coreActions.js';
import { useActiveRunSubnet } from './useActiveRunSubnet.js';
import { loadOverPositions, tokenCells, tokenClassMatrix, type TokenCell } from './tokenViewData.js';

interface Hover {
  seq: number;
  pos: number;
  cell: TokenCell;
}

function PatchGrid({ seq, cells, rows, cols, size, pixels, onHover }: { seq: number; cells: TokenCell[]; rows: number; cols: number; size: number; pixels: number[][]; onHover: (h: Hover | null) => void }) {
  const px = 4;
  const side = size * px + 4;
  return (
    <svg width={cols * side} height={rows * side} role="img" aria-label={`sample ${seq} patches`} data-testid={`token-patches-${seq}`}>
      {cells.map((c, t) => {
        const x0 = (t % cols) * side;
        const y0 = Math.floor(t / cols) * side;
        return (
          <g key={t} data-testid={`token-${seq}-${t}`} data-expert={c.expert ?? ''} onMouseEnter={() => onHover({ seq, pos: t, cell: c })} onMouseLeave={() => onHover(null)}>
            <rect x={x0} y={y0} width={side} height={side} fill={c.color} />
            {pixels[t]!.map((v, i) => {
              const g = Math.round(255 * (1 - Math.max(0, Math.min(1, v))));
              return <rect key={i} x={x0 + 2 + (i % size) * px} y={y0 + 2 + Math.floor(i / size) * px} width={px} height={px} fill={`rgb(${g},${g},${g})`} opacity={0.85} />;
            })}
            <title>{`patch ${t}: ${c.gates}`}</title>
          </g>
        );
      })}
    </svg>
  );
}

export function TokenRoutingPanel() {
  const { runId, record, sub, connected } = useActiveRunSubnet();
  const [data, setData] = useState<TokenRouting | null>(null);
  const [layer, setLayer] = useState(0);
  const [hover, setHover] = useState<Hover | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setData(null);
    setLayer(0);
    setError(null);
  }, [runId]);
  const space = record?.config.space;
  const tokenInput = space && (space.input.kind === 'tokens' || space.input.kind === 'sequence');
  const hasMoE = space?.stages.some((st) => describeBlock(st.block).routesTokens?.(st.block) ?? false) ?? false;
  const cells = useMemo(() => (data && data.layers.length ? tokenCells(data, layer) : []), [data, layer]);
  const load = useMemo(() => (data && data.layers.length ? loadOverPositions(data, layer) : []), [data, layer]);
  const matrix = useMemo(() => (data && data.layers.length ? tokenClassMatrix(data, layer) : null), [data, layer]);
  if (!runId || !record || !space || !tokenInput || !hasMoE) return null;
  const arch = sub?.arch ?? largestArch(space);
  const fetchBatch = async () => {
    setBusy(true);
    setError(null);
    try {
      setData(await core().call('run.tokenRouting', { runId, arch, offset: 0, samples: 8 }));
      setHover(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const names = data?.layers[layer]?.expertNames ?? [];
  return (
    <section className="panel" aria-label="Token routing" data-testid="token-routing">
      <div className="row">
        <h3>Token routing</h3>
        <span className="muted">{sub ? `subnet ${sub.id}` : 'largest subnet'} · validation batch</span>
        <span className="toolbar-fill" />
        {data && data.layers.length > 1 ? (
          <select aria-label="MoE layer" value={layer} data-testid="token-layer" onChange={(e) => {
              setLayer(Number(e.target.value));
              setHover(null);
            }}>
            {data.layers.map((l, i) => (
              <option key={l.layer} value={i}>
                {l.layer}
              </option>
            ))}
          </select>
        ) : null}
        <button type="button" data-testid="token-fetch" disabled={busy || !connected} onClick={() => void fetchBatch()}>
          {busy ? 'Routing…' : data ? 'Reload' : 'Route a validation batch'}
        </button>
      </div>
      {error ? <p className="warn">{error}</p> : null}
      {data && data.layers.length === 0 ? <p className="muted">This subnet routes no tokens (no MoE layer is active).</p> : null}
      {data && data.layers.length > 0 ? (
        <>
          <p className="muted legend-line" data-testid="token-legend">
            {names.map((n, e) => (
              <span key={n} style={{ color: categoryColor(e), marginRight: 8 }}>
                ■ {n}
              </span>
            ))}
            — each {data.tokenKind} coloured by its highest-gate expert in {data.layers[layer]!.layer}
          </p>
          <p className="stats" data-testid="token-hover" aria-live="polite">
            {hover ? `sample ${data.sequences[hover.seq]!.sample}, position ${hover.pos}: “${hover.cell.text}” → ${hover.cell.gates}` : 'Hover a token for its gates.'}
          </p>
          <div className="token-text" data-testid="token-text" style={{ fontFamily: 'var(--font-mono, monospace)', lineHeight: 1.8 }}>
            {data.sequences.map((s, i) =>
              s.patches ? (
                <PatchGrid key={i} seq={i} cells={cells[i]!} {...s.patches} onHover={setHover} />
              ) : (
                <div key={i} data-testid={`token-seq-${i}`}>
                  {s.group ? <span className="muted">{s.group}: </span> : null}
                  {cells[i]!.map((c, t) => (
                    <span
                      key={t}
                      data-testid={`token-${i}-${t}`}
                      data-expert={c.expert ?? ''}
                      title={c.gates}
                      style={{ background: c.color, color: '#111', padding: '1px 1px', marginRight: 1, borderRadius: 2 }}
                      onMouseEnter={() => setHover({ seq: i, pos: t, cell: c })}
                      onMouseLeave={() => setHover(null)}
                    >
                      {c.text}
                    </span>
                  ))}
                </div>
              ),
            )}
          </div>
          <LineChart
            title={`Load over positions · ${data.layers[layer]!.layer} (share of each position's assignments, ${data.sequences.length} sequences)`}
            xLabel="position"
            yDomain={[0, 1]}
            allowLog={false}
            testId="token-load"
            series={load.map((row, e) => ({ label: names[e] ?? `slot ${e}`, color: categoryColor(e), points: row.map((v, t) => [t, v] as [number, number]) }))}
          />
          {matrix ? (
            <MatrixView
              title={`Token class × expert · ${data.layers[layer]!.layer} (tokens at their top expert, ${matrix.totals.reduce((a, b) => a + b, 0)} tokens)`}
              scaleLabel="tokens"
              values={matrix.counts}
              rowLabels={matrix.rowLabels}
              colLabels={matrix.colLabels}
              testId="token-class-matrix"
              label="token class by expert counts"
            />
          ) : null}
        </>
      ) : null}
    </section>
  );
}
