/**
 * Compress panel (issue 15), beside Search: run the open run's selected subnet (else its largest) through
 * the compression methods (`compress.run`, core/compress), and see what each costs — validation accuracy
 * with its 95 % interval against stored size, one curve per method — plus, for the point clicked, the
 * bits per expert, the expert-similarity matrix the merge used and the singular-value spectrum with a
 * rank slider. Every point is also a model.onnx on disk (the path is shown).
 */
import { useEffect, useId, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { formatAccuracy } from '../../../core/protocol/accuracyInterval.js';
import { COMPRESS_METHODS, COMPRESS_METHOD_NAMES, type CompressMethodName } from '../../../core/protocol/compressMethodNames.js';
import type { CompressPoint, CompressResult } from '../../../core/protocol/protocol.js';
import { largestArch } from '../../../core/space/archCodec.js';
import { describeBlock } from '../../../core/space/blocks/registry.js';
import { compressCurve, kibOf, retainedEnergy, valAccuracy } from '../search/compressCurve.js';
import { core, errorText } from '../store/coreActions.js';
import { exportZipUrl } from '../transport/downloadUrl.js';
import { useWorkbench } from '../store/store.js';

const COLORS = ['#888', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];
const colorOf = (m: CompressPoint['method']) => COLORS[m === null ? 0 : 1 + COMPRESS_METHOD_NAMES.indexOf(m)] ?? '#444';

function CurveSvg({ result, selected, onSelect }: { result: CompressResult; selected: number | null; onSelect: (i: number) => void }) {
  const box = { width: 320, height: 240, margin: { l: 46, r: 10, t: 10, b: 36 } };
  const c = compressCurve(result, box);
  const yFmt = c.y.tickFormat(4, '.0%');
  return (
    <svg width={box.width} height={box.height} className="scatter" data-testid="compress-curve" role="img" aria-label="validation accuracy against size per method">
      {c.y.ticks(4).map((t) => (
        <g key={t}>
          <line className="grid" x1={box.margin.l} x2={box.width - box.margin.r} y1={c.y(t)} y2={c.y(t)} />
          <text className="tick" x={box.margin.l - 5} y={c.y(t)} dy="0.32em" textAnchor="end">
            {yFmt(t)}
          </text>
        </g>
      ))}
      {c.x.ticks(4).map((t) => (
        <text key={t} className="tick" x={c.x(t)} y={box.height - box.margin.b + 12} textAnchor="middle">
          {c.x.tickFormat(4, '~s')(t)}
        </text>
      ))}
      <text className="axis-label" x={(box.margin.l + box.width - box.margin.r) / 2} y={box.height - 4} textAnchor="middle">
        stored size (KiB, log)
      </text>
      {c.series.map((s) => (
        <g key={s.method ?? 'none'} style={{ color: colorOf(s.method) }}>
          {s.points.length > 1 ? <polyline fill="none" stroke="currentColor" strokeWidth={1.5} points={s.points.map((p) => `${p.cx},${p.cy}`).join(' ')} /> : null}
          {s.points.map((p) => (
            <g key={p.index}>
              <line x1={p.cx} x2={p.cx} y1={p.yLo} y2={p.yHi} stroke="currentColor" opacity={0.5} />
              <circle cx={p.cx} cy={p.cy} r={p.index === selected ? 6 : 4} fill="currentColor" data-testid={`compress-point-${p.index}`} onClick={() => onSelect(p.index)} style={{ cursor: 'pointer' }}>
                <title>{`${s.method ?? 'uncompressed'} ${JSON.stringify(p.point.level)}: ${(p.accuracy * 100).toFixed(1)} %, ${p.kib.toFixed(1)} KiB`}</title>
              </circle>
            </g>
          ))}
        </g>
      ))}
    </svg>
  );
}

/** Heat map of an [S][S] similarity matrix (values in [−1, 1]). */
function SimilarityMatrix({ m }: { m: number[][] }) {
  const cell = Math.max(8, Math.min(24, Math.floor(160 / Math.max(1, m.length))));
  return (
    <svg width={cell * m.length} height={cell * m.length} data-testid="compress-similarity" role="img" aria-label="expert similarity matrix">
      {m.flatMap((row, i) =>
        row.map((v, j) => (
          <rect key={`${i}-${j}`} x={j * cell} y={i * cell} width={cell - 1} height={cell - 1} fill={v >= 0 ? `rgba(31,119,180,${v})` : `rgba(214,39,40,${-v})`}>
            <title>{`slots ${i}, ${j}: ${v.toFixed(2)}`}</title>
          </rect>
        )),
      )}
    </svg>
  );
}

function Spectrum({ s }: { s: number[] }) {
  const [rank, setRank] = useState(Math.max(1, Math.round(s.length / 2)));
  const id = useId();
  const w = 240;
  const h = 80;
  const max = s[0] ?? 1;
  const bw = w / Math.max(1, s.length);
  return (
    <div data-testid="compress-spectrum">
      <svg width={w} height={h} role="img" aria-label="singular-value spectrum">
        {s.map((v, i) => (
          <rect key={i} x={i * bw} y={h - (h * v) / max} width={Math.max(1, bw - 1)} height={(h * v) / max} fill={i < rank ? '#1f77b4' : '#ccc'} />
        ))}
      </svg>
      <div className="field">
        <label htmlFor={id}>
          rank {rank} keeps {(retainedEnergy(s, rank) * 100).toFixed(1)} % of Σσ²
        </label>
        <input id={id} type="range" min={1} max={s.length} value={rank} data-testid="compress-rank" onChange={(e) => setRank(Number(e.target.value))} />
      </div>
    </div>
  );
}

function PointDetails({ p, runId }: { p: CompressPoint; runId: string }) {
  const [layerIndex, setLayerIndex] = useState(0);
  const layer = p.layers[Math.min(layerIndex, Math.max(0, p.layers.length - 1))];
  // The model's folder under <run>/exports/ (the export download's zip).
  const href = (file: string) => exportZipUrl(runId, file.replace(/[\\/]model\.onnx$/, ''));
  return (
    <div data-testid="compress-details">
      <p>
        <strong>{p.method ?? 'uncompressed'}</strong> {JSON.stringify(p.level)} · {p.accuracy.map((a) => formatAccuracy(a)).join(' · ')} · {p.params.toLocaleString()} params ·{' '}
        {kibOf(p).toFixed(1)} KiB{p.latencyMs !== null ? ` · ${p.latencyMs.toFixed(3)} ms` : ''}
      </p>
      {p.onnx ? (
        <p className="muted">
          <code>{p.onnx.file}</code> (onnxruntime max |Δ| {p.onnx.maxAbsDiff.toExponential(1)})
          {href(p.onnx.file) ? (
            <>
              {' '}
              <a href={href(p.onnx.file)!} download data-testid="compress-download">
                Download .zip
              </a>
            </>
          ) : null}
        </p>
      ) : null}
      {p.layers.length > 1 ? (
        <select value={layerIndex} data-testid="compress-layer" onChange={(e) => setLayerIndex(Number(e.target.value))}>
          {p.layers.map((l, i) => (
            <option key={l.layer} value={i}>
              {l.layer}
            </option>
          ))}
        </select>
      ) : null}
      {layer?.bitsPerExpert ? <p data-testid="compress-bits">bits per expert: {layer.bitsPerExpert.map((b) => b ?? '–').join(' ')}</p> : null}
      {layer?.groups ? <p>groups: {layer.groups.map((g) => `{${g.join(',')}}`).join(' ')}</p> : null}
      {layer?.similarity ? <SimilarityMatrix m={layer.similarity} /> : null}
      {layer?.spectrum?.length ? <Spectrum key={`${p.method}${JSON.stringify(p.level)}`} s={layer.spectrum} /> : null}
    </div>
  );
}

export function CompressPanel() {
  const { runId, record, sub, connected } = useWorkbench(
    useShallow((s) => ({
      runId: s.searchSummary?.runId ?? s.activeRunId,
      record: s.activeRecord,
      sub: s.evaluated.find((e) => e.id === s.selectedSubnet) ?? null,
      connected: s.connection === 'open',
    })),
  );
  const [methods, setMethods] = useState<CompressMethodName[]>([...COMPRESS_METHOD_NAMES]);
  const [calib, setCalib] = useState(512);
  const stored = useWorkbench((s) => s.compressResult);
  const setResult = useWorkbench((s) => s.setCompressResult);
  const result = stored && stored.runId === runId ? stored : null;
  const [selected, setSelected] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const calibId = useId();
  // Blocks that route tokens to experts (the descriptor's routesTokens: MoE blocks, transformers with an MoE FFN).
  const hasMoE = record?.config.space.stages.some((st) => describeBlock(st.block).routesTokens?.(st.block) ?? false) ?? false;

  useEffect(() => {
    setResult(null);
    setSelected(null);
    if (!runId || !connected) return;
    let stopped = false;
    core()
      .call('compress.list', { runId })
      .then((list) => !stopped && setResult(list[0] ?? null))
      .catch((e) => !stopped && setError(errorText(e)));
    return () => {
      stopped = true;
    };
  }, [runId, connected]);

  if (!runId || !record || !hasMoE) return null;
  const arch = sub?.arch ?? largestArch(record.config.space);
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await core().call('compress.run', { runId, arch, methods, calibSamples: calib });
      setResult(r);
      setSelected(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const toggle = (m: CompressMethodName) => setMethods(methods.includes(m) ? methods.filter((x) => x !== m) : [...methods, m]);
  const point = selected !== null ? result?.points[selected] : undefined;
  return (
    <section className="panel" aria-label="Compress" data-testid="compress-panel">
      <h3>Compress</h3>
      <p className="muted">
        Shrink {sub ? `subnet ${sub.id}` : 'the largest subnet'} with each method&apos;s sweep, calibrated on validation samples; every point is scored on the rest of validation and on
        test, sized as stored, and exported as ONNX.
      </p>
      <fieldset className="field-grid">
        {COMPRESS_METHOD_NAMES.map((m) => (
          <label key={m} title={COMPRESS_METHODS[m]}>
            <input type="checkbox" checked={methods.includes(m)} data-testid={`compress-method-${m}`} onChange={() => toggle(m)} /> {m}
          </label>
        ))}
      </fieldset>
      <div className="field">
        <label htmlFor={calibId}>Calibration samples (validation)</label>
        <input id={calibId} type="number" value={calib} data-testid="compress-calib" onChange={(e) => setCalib(Number(e.target.value))} />
      </div>
      <div className="row">
        <button type="button" data-testid="compress-start" disabled={busy || !connected || methods.length === 0} onClick={() => void start()}>
          {busy ? 'Compressing…' : 'Compress'}
        </button>
      </div>
      {error ? <p className="warn">{error}</p> : null}
      {result ? (
        <>
          <p className="stats" data-testid="compress-summary">
            {result.points.length} points · calibrated on {result.calibration.n} validation samples ·{' '}
            {COMPRESS_METHOD_NAMES.filter((m) => result.points.some((p) => p.method === m)).map((m) => (
              <span key={m} style={{ color: colorOf(m) }}>
                {m}{' '}
              </span>
            ))}
          </p>
          <CurveSvg result={result} selected={selected} onSelect={setSelected} />
          {point ? <PointDetails p={point} runId={runId} /> : <p className="muted">Click a point for its bits per expert, similarity matrix and spectrum.</p>}
          <table className="compact" data-testid="compress-table">
            <thead>
              <tr>
                <th>method</th>
                <th>level</th>
                <th>val</th>
                <th>KiB</th>
              </tr>
            </thead>
            <tbody>
              {result.points.map((p, i) => (
                <tr key={i} onClick={() => setSelected(i)}>
                  <td>{p.method ?? 'uncompressed'}</td>
                  <td>{JSON.stringify(p.level)}</td>
                  <td>{valAccuracy(p) ? `${(valAccuracy(p)!.accuracy * 100).toFixed(1)} %` : '–'}</td>
                  <td>{kibOf(p).toFixed(1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
