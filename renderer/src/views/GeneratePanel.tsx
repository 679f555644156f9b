/**
 * Generation from a prompt in the run view (issue 12 item 4): a character language-model run's subnet
 * continues the prompt in the core (`run.generate`, core/train/generate.ts), greedy at temperature 0,
 * else sampled from softmax(logits / T), optionally among the top k — a quick sanity check of the model.
 */
import { useId, useState } from 'react';
import type { GenerateResult } from '../../../core/protocol/protocol.js';
import { largestArch } from '../../../core/space/archCodec.js';
import { core, errorText } from '../store/coreActions.js';
import { useActiveRunSubnet } from './useActiveRunSubnet.js';

export function GeneratePanel() {
  const { runId, record, sub, connected } = useActiveRunSubnet();
  const [prompt, setPrompt] = useState('The ');
  const [temperature, setTemperature] = useState(0);
  const [topK, setTopK] = useState(0);
  const [maxNewTokens, setMaxNewTokens] = useState(200);
  const [result, setResult] = useState<GenerateResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ids = { prompt: useId(), t: useId(), k: useId(), n: useId() };
  if (!runId || !record || record.config.data.kind !== 'text' || record.summary.id !== runId) return null;
  const arch = sub?.arch ?? largestArch(record.config.space);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await core().call('run.generate', { runId, arch, prompt, temperature, topK, maxNewTokens, seed: 1 }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-label="Generate" data-testid="generate-panel">
      <h3>Generate</h3>
      <p className="muted">Continue a prompt with {sub ? `subnet ${sub.id}` : 'the largest subnet'} from the latest checkpoint (temperature 0 = greedy).</p>
      <div className="field">
        <label htmlFor={ids.prompt}>Prompt</label>
        <textarea id={ids.prompt} rows={2} value={prompt} data-testid="generate-prompt" onChange={(e) => setPrompt(e.target.value)} />
      </div>
      <div className="row wrap">
        <label htmlFor={ids.t}>Temperature</label>
        <input id={ids.t} type="number" min={0} step={0.1} value={temperature} data-testid="generate-temperature" onChange={(e) => setTemperature(Number(e.target.value))} />
        <label htmlFor={ids.k}>Top k (0 = all)</label>
        <input id={ids.k} type="number" min={0} value={topK} data-testid="generate-topk" onChange={(e) => setTopK(Number(e.target.value))} />
        <label htmlFor={ids.n}>Characters</label>
        <input id={ids.n} type="number" min={1} max={1000} value={maxNewTokens} data-testid="generate-length" onChange={(e) => setMaxNewTokens(Number(e.target.value))} />
        <button type="button" data-testid="generate-start" disabled={busy || !connected || prompt.length === 0} onClick={() => void run()}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </div>
      {error ? <p className="warn">{error}</p> : null}
      {result ? (
        <pre className="generated" data-testid="generate-output" style={{ whiteSpace: 'pre-wrap' }}>
          <span className="muted">{result.prompt}</span>
          <strong>{result.text}</strong>
        </pre>
      ) : null}
      {result?.unknownChars.length ? <p className="warn">Not in the run&apos;s vocabulary (read as &lt;unk&gt;): {result.unknownChars.join(' ')}</p> : null}
    </section>
  );
}
