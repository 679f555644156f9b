import { useEffect, useRef, useState } from 'react';
import type { Specialization } from '../../../core/protocol/protocol.js';
import { categoryColor, hexToRgb } from '../charts/heatmapColor.js';
import { LineChart } from '../charts/LineChart.js';
import { MatrixView } from '../charts/MatrixView.js';
import { normaliseCoactivation, normaliseColumns, normaliseRows } from '../charts/matrix.js';
import { useFrameValue } from '../components/hooks.js';
import { ArchMixingPanel } from './ArchMixingPanel.js';

type Norm = 'row' | 'column';

/** The input plane coloured by the expert each point is routed to (top expert), with data points on top. */
function PlaneView({ plane, layer, testId }: { plane: NonNullable<Specialization['plane']>; layer: number; testId: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const size = 260;
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const n = plane.size;
    const grid = plane.experts[layer] ?? [];
    const img = new ImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const [r, g, b] = hexToRgb(categoryColor(grid[i] ?? 0));
      // Row-major from (xMin, yMin): flip rows so y grows upwards on screen.
      const row = Math.floor(i / n);
      const o = ((n - 1 - row) * n + (i % n)) * 4;
      img.data[o] = r;
      img.data[o + 1] = g;
      img.data[o + 2] = b;
      img.data[o + 3] = 150;
    }
    const off = document.createElement('canvas');
    off.width = n;
    off.height = n;
    off.getContext('2d')!.putImageData(img, 0, 0);
    const ctx = c.getContext('2d')!;
    c.width = size;
    c.height = size;
    ctx.clearRect(0, 0, size, size);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, size, size);
    const sx = (x: number) => ((x - plane.xMin) / (plane.xMax - plane.xMin)) * size;
    const sy = (y: number) => size - ((y - plane.yMin) / (plane.yMax - plane.yMin)) * size;
    for (const [x, y, cls] of plane.points ?? []) {
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), 2, 0, Math.PI * 2);
      ctx.fillStyle = cls % 2 ? '#111' : '#fff';
      ctx.strokeStyle = categoryColor(cls);
      ctx.fill();
      ctx.stroke();
    }
  }, [plane, layer]);
  return <canvas ref={ref} className="plane" style={{ width: size, height: size }} data-testid={testId} role="img" aria-label="Input plane coloured by chosen expert" />;
}

/**
 * ProMoE's prototypes among the held-out tokens: both L2-normalised, on the tokens' first two principal
 * components (core/train/prototypePlane.ts); tokens coloured by their top expert, each prototype a ringed
 * cross in its expert's colour. Tokens clustering around their own expert's prototype is the routing
 * contrastive loss at work.
 */
function PrototypeScatter({ plane, names, testId }: { plane: NonNullable<Specialization['layers'][number]['prototypePlane']>; names: string[]; testId: string }) {
  const size = 260;
  const pad = 14;
  const xs = [...plane.tokens.map((t) => t[0]), ...plane.prototypes.map((p) => p[0])];
  const ys = [...plane.tokens.map((t) => t[1]), ...plane.prototypes.map((p) => p[1])];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (size - 2 * pad);
  const sy = (y: number) => size - pad - ((y - y0) / (y1 - y0 || 1)) * (size - 2 * pad);
  return (
    <figure className="prototype-plane">
      <svg width={size} height={size} data-testid={testId} role="img" aria-label={`Tokens and ${plane.prototypes.length} prototypes on the first two principal components`}>
        {plane.tokens.map(([x, y, e], i) => (
          <circle key={i} cx={sx(x)} cy={sy(y)} r={2.2} fill={categoryColor(e)} opacity={0.6} />
        ))}
        {plane.prototypes.map(([x, y], e) => (
          <g key={`p${e}`} data-testid={`${testId}-proto-${e}`}>
            <title>{`prototype of ${names[e] ?? `e${e}`}`}</title>
            <circle cx={sx(x)} cy={sy(y)} r={7} fill="none" stroke="#111" strokeWidth={2} />
            <path d={`M${sx(x) - 5},${sy(y)}h10M${sx(x)},${sy(y) - 5}v10`} stroke={categoryColor(e)} strokeWidth={2.5} />
          </g>
        ))}
      </svg>
      <figcaption className="muted">
        prototypes (⊕) and tokens, PCA of the normalised router inputs ({Math.round(plane.explained * 100)} % of variance)
      </figcaption>
    </figure>
  );
}

/**
 * Issue 13's inference-side views of the snapshot subnet: SCMoE's validation accuracy against β (β = 0 is
 * the subnet itself) and, for MomentumSMoE blocks, accuracy under input noise with momentum on and off.
 */
function InferenceChecks({ spec }: { spec: Specialization }) {
  const sc = spec.selfContrast;
  const noise = spec.noiseRobustness;
  if (!sc?.length && !noise?.length) return null;
  const n = sc?.[0]?.n ?? noise?.[0]?.momentum.n;
  return (
    <div className="row wrap" data-testid="spec-inference-checks">
      {sc?.length ? (
        <div className="spec-chart" style={{ flex: '1 1 320px', minWidth: 280 }}>
          <LineChart
            title={`SCMoE: validation accuracy against β (n=${n}; band: 95 % interval)`}
            xLabel="β"
            yDomain={[0, 1]}
            allowLog={false}
            testId="spec-scmoe"
            series={[
              { label: 'accuracy', color: categoryColor(0), points: sc.map((p) => [p.beta, p.accuracy] as const) },
              { label: '95 % low', color: categoryColor(0), faint: true, points: sc.map((p) => [p.beta, p.ci95[0]] as const) },
              { label: '95 % high', color: categoryColor(0), faint: true, points: sc.map((p) => [p.beta, p.ci95[1]] as const) },
            ]}
          />
        </div>
      ) : null}
      {noise?.length ? (
        <div className="spec-chart" style={{ flex: '1 1 320px', minWidth: 280 }}>
          <LineChart
            title={`Accuracy under input noise, momentum on vs off (same weights; n=${n})`}
            xLabel="noise σ (× feature std)"
            yDomain={[0, 1]}
            allowLog={false}
            testId="spec-noise"
            series={[
              { label: 'momentum on', color: categoryColor(0), points: noise.map((p) => [p.sigma, p.momentum.accuracy] as const) },
              { label: 'momentum off (μ = 0)', color: categoryColor(1), dashed: true, points: noise.map((p) => [p.sigma, p.plain.accuracy] as const) },
            ]}
          />
        </div>
      ) : null}
    </div>
  );
}

export function SpecializationPanel() {
  const spec = useFrameValue((s) => s.specialization);
  const [norm, setNorm] = useState<Norm>('row');
  const [planeLayer, setPlaneLayer] = useState(0);
  if (!spec)
    return (
      <section className="panel" data-testid="specialization-empty">
        <h3>Expert specialization</h3>
        <p className="muted">Appears once an MoE run reports routing on held-out data.</p>
      </section>
    );
  return (
    <section className="panel specialization" aria-label="Expert specialization" data-testid="specialization">
      <div className="row">
        <h3>Expert specialization</h3>
        <span className="muted">step {spec.step}</span>
        <span className="toolbar-fill" />
        <div role="radiogroup" aria-label="Normalise the class × expert matrix" className="segmented">
          {(['row', 'column'] as const).map((n) => (
            <button key={n} type="button" role="radio" aria-checked={norm === n} data-testid={`spec-norm-${n}`} onClick={() => setNorm(n)}>
              by {n}
            </button>
          ))}
        </div>
      </div>
      <p className="muted legend-line">
        {norm === 'row' ? 'Each row: where a class is routed.' : 'Each column: which classes an expert serves.'}
      </p>
      <InferenceChecks spec={spec} />
      <ArchMixingPanel mixing={spec.archMixing} />
      <div className="spec-layers">
        {spec.layers.map((l, li) => {
          const id = l.layer.replace(/[^\w-]/g, '_');
          return (
            <div key={l.layer} className="spec-layer">
              <h4>{l.layer}</h4>
              <div className="row wrap">
                <MatrixView
                  title="Class × expert routing"
                  scaleLabel={norm === 'row' ? "share of the class's tokens" : "share of the expert's tokens"}
                  values={norm === 'row' ? normaliseRows(l.counts) : normaliseColumns(l.counts)}
                  rowLabels={spec.classNames}
                  colLabels={l.expertNames}
                  testId={`spec-matrix-${id}`}
                  label={`Class by expert routing for ${l.layer}, normalised by ${norm}`}
                />
                <MatrixView
                  title="Expert co-activation"
                  scaleLabel="tokens routed to both, normalised"
                  values={normaliseCoactivation(l.coactivation)}
                  rowLabels={l.expertNames}
                  colLabels={l.expertNames}
                  testId={`spec-coact-${id}`}
                  label={`Expert co-activation for ${l.layer}`}
                />
                {l.transitions && li > 0 ? (
                  <MatrixView
                    title="Expert here given the previous layer's"
                    scaleLabel="P(expert here | expert at the previous MoE layer)"
                    values={normaliseRows(l.transitions)}
                    rowLabels={spec.layers[li - 1]!.expertNames}
                    colLabels={l.expertNames}
                    testId={`spec-transitions-${id}`}
                    label={`Cross-layer routing for ${l.layer}: rows the top expert at ${spec.layers[li - 1]!.layer}, columns the top expert here`}
                  />
                ) : null}
                {spec.plane && li === planeLayer ? <PlaneView plane={spec.plane} layer={li} testId={`spec-plane-${id}`} /> : null}
                {l.prototypePlane ? <PrototypeScatter plane={l.prototypePlane} names={l.expertNames} testId={`spec-prototypes-${id}`} /> : null}
              </div>
              {spec.plane && li !== planeLayer ? (
                <button type="button" className="link" onClick={() => setPlaneLayer(li)}>
                  show input plane for this layer
                </button>
              ) : null}
              {spec.plane && li === planeLayer ? (
                <div className="legend">
                  {l.expertNames.map((n, e) => (
                    <span key={n} className="legend-item">
                      <span className="swatch" style={{ background: categoryColor(e) }} />
                      {n}
                    </span>
                  ))}
                </div>
              ) : null}
            </div>
          );
        })}
      </div>
    </section>
  );
}
