import { useEffect, useRef } from 'react';
import { fmt, LineChart } from '../charts/LineChart.js';
import { ColorScale } from '../charts/ColorScale.js';
import { HeatmapCanvas } from '../charts/HeatmapCanvas.js';
import { routerSeries, type LayerSeries } from '../charts/routerSeries.js';
import { useFrameValue } from '../components/hooks.js';

/** A thin strip under the heatmap, red where the router had collapsed. */
function CollapseStrip({ flags, testId }: { flags: boolean[]; testId: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    c.width = flags.length;
    c.height = 1;
    const ctx = c.getContext('2d')!;
    ctx.clearRect(0, 0, flags.length, 1);
    ctx.fillStyle = '#e5484d';
    flags.forEach((f, x) => f && ctx.fillRect(x, 0, 1, 1));
  }, [flags]);
  const n = flags.filter(Boolean).length;
  return (
    <div className="collapse-strip-row" title={`collapsed at ${n} of ${flags.length} points`}>
      <span className="muted">collapse</span>
      <canvas ref={ref} className="collapse-strip" data-testid={testId} aria-label={`router collapsed at ${n} of ${flags.length} points`} role="img" />
    </div>
  );
}

function LayerRouter({ s }: { s: LayerSeries }) {
  const rows = s.expertNames.length;
  const id = s.layer.replace(/[^\w-]/g, '_');
  return (
    <article className={`panel router-layer${s.collapsed ? ' collapsed' : ''}`} data-testid={`router-${id}`}>
      <div className="row">
        <h4>{s.layer}</h4>
        <span className="muted">
          {rows} slots · {fmt(s.last.meanActive)} active/token · entropy {fmt(s.last.entropy)} · dropped {(s.last.dropped * 100).toFixed(1)}%
          {s.last.diversity !== undefined ? (
            <span data-testid={`routing-metrics-${id}`}>
              {' '}
              · diversity {fmt(s.last.diversity)} · dead {((s.last.deadFraction ?? 0) * 100).toFixed(0)}% · load CV {fmt(s.last.cv ?? 0)}
            </span>
          ) : null}
        </span>
        <span className="toolbar-fill" />
        {s.collapsed ? (
          <span className="alarm" role="alert" data-testid={`collapse-${id}`}>
            ⚠ routing collapse: {s.last.collapseReason ?? 'one expert takes most tokens'}
          </span>
        ) : null}
      </div>
      <HeatmapCanvas
        columns={s.loads}
        rows={rows}
        rowLabels={s.expertNames}
        height={Math.max(60, Math.min(220, rows * 16))}
        testId={`heatmap-${id}`}
        label={`Expert load over steps for ${s.layer}`}
      />
      <ColorScale max={1} label="share of routing assignments (per layer's highest)" testId={`router-scale-${id}`} />
      {s.collapseAt.some(Boolean) ? <CollapseStrip flags={s.collapseAt} testId={`collapse-strip-${id}`} /> : null}
      <div className="chart-grid small">
        <LineChart title="Router entropy (nats)" series={[{ label: 'entropy', color: 'var(--series-2)', points: s.entropy }]} height={110} testId={`entropy-${id}`} />
        <LineChart
          title="Dropped tokens"
          series={[{ label: 'dropped', color: 'var(--series-4)', points: s.dropped }]}
          yDomain={[0, Math.max(0.05, ...s.dropped.map((d) => d[1]))]}
          height={110}
          testId={`dropped-${id}`}
        />
        {s.diversity.length ? (
          <LineChart
            title="Expert diversity exp(H)/N and dead-expert share"
            series={[
              { label: 'diversity', color: 'var(--series-1)', points: s.diversity },
              { label: 'dead', color: 'var(--series-4)', points: s.deadFraction },
            ]}
            yDomain={[0, 1]}
            height={110}
            testId={`diversity-${id}`}
          />
        ) : null}
        {s.fluctuation.length ? (
          <LineChart
            title="Routing fluctuation (probe tokens whose top expert changed since the last validation)"
            series={[{ label: 'fluctuation', color: 'var(--series-3)', points: s.fluctuation }]}
            yDomain={[0, 1]}
            height={110}
            testId={`fluctuation-${id}`}
          />
        ) : null}
      </div>
    </article>
  );
}

export function RouterPanel() {
  const metrics = useFrameValue((s) => s.metrics);
  const layers = routerSeries(metrics);
  if (!layers.length) return null;
  return (
    <section className="router-panel" aria-label="Router load per MoE layer" data-testid="router-panel">
      <h3>Routers</h3>
      <p className="muted legend-line">x: training steps · y: expert slot · colour: share of routing assignments (brightest = the layer's highest share)</p>
      {layers.map((s) => (
        <LayerRouter key={s.layer} s={s} />
      ))}
    </section>
  );
}
