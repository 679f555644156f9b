/**
 * Few-shot NAS's view (core/train/strategies/fewshot.ts): the split tree the run has grown so far and, for
 * one split, the gradient-similarity matrix of every edge it measured — the chosen edge is the one whose
 * choices' shared-weight gradients agree least across its two groups. Nothing for other strategies.
 */
import { useState } from 'react';
import { decodeFewShotSplits, fewShotTree, type FewShotSplitView, type FewShotTreeView } from '../../../core/protocol/fewShotReport.js';
import { archPositions, type ArchPosition } from '../../../core/space/archCodec.js';
import { MatrixView } from '../charts/MatrixView.js';
import { useFrameValue } from '../components/hooks.js';
import { useWorkbench } from '../store/store.js';

const fmt = (v: number) => v.toFixed(3);

function groupText(pos: ArchPosition | undefined, g: readonly number[]): string {
  return `{${g.map((c) => pos?.choices[c] ?? String(c)).join(', ')}}`;
}

function TreeNode({ node, positions }: { node: FewShotTreeView; positions: readonly ArchPosition[] }) {
  if ('leaf' in node) return <li className="muted">sub-supernet {node.leaf}</li>;
  const pos = positions[node.position];
  return (
    <li>
      <span>
        <strong>{pos?.label ?? `position ${node.position}`}</strong> {groupText(pos, node.groups[0])} | {groupText(pos, node.groups[1])}{' '}
        <span className="muted">(step {node.step})</span>
      </span>
      <ul>
        <TreeNode node={node.children[0]} positions={positions} />
        <TreeNode node={node.children[1]} positions={positions} />
      </ul>
    </li>
  );
}

function SplitMatrices({ split, positions }: { split: FewShotSplitView; positions: readonly ArchPosition[] }) {
  return (
    <div className="chart-grid" data-testid="fewshot-matrices">
      {split.edges.map((e, k) => {
        const pos = positions[e.position];
        const labels = e.similarity.map((_, c) => pos?.choices[c] ?? String(c));
        const chosen = k === split.chosen;
        return (
          <MatrixView
            key={k}
            title={`${pos?.label ?? `position ${e.position}`}: across-group cosine ${fmt(e.score)}${chosen ? ' — split here' : ''}`}
            scaleLabel="cosine similarity of shared-weight gradients"
            values={e.similarity}
            rowLabels={labels}
            colLabels={labels}
            testId={chosen ? 'fewshot-matrix-chosen' : `fewshot-matrix-${k}`}
            label={`Gradient similarity between the choices of ${pos?.label ?? e.position}`}
          />
        );
      })}
    </div>
  );
}

export function FewShotPanel() {
  const metrics = useFrameValue((s) => s.metrics);
  const space = useWorkbench((s) => s.activeRecord?.config.space);
  const [picked, setPicked] = useState(0);
  let splits: FewShotSplitView[] | null = null;
  for (let i = metrics.length - 1; i >= 0 && !splits; i--) splits = decodeFewShotSplits(metrics[i]!.strategy);
  if (!splits) return null;
  const positions = space ? archPositions(space) : [];
  const current = splits[Math.min(picked, splits.length - 1)];
  return (
    <details open className="panel" data-testid="fewshot-panel">
      <summary>Few-shot splits ({splits.length})</summary>
      {splits.length === 0 ? (
        <p className="muted">One supernet so far: the first split comes after warm-up (40 % of training).</p>
      ) : (
        <>
          <ul className="split-tree" data-testid="fewshot-tree">
            <TreeNode node={fewShotTree(splits)} positions={positions} />
          </ul>
          <div role="radiogroup" aria-label="split" className="segmented">
            {splits.map((s, i) => (
              <button key={i} type="button" role="radio" aria-checked={i === picked} data-testid={`fewshot-split-${i}`} onClick={() => setPicked(i)}>
                step {s.step}: sub-supernet {s.leaf}
              </button>
            ))}
          </div>
          {current ? <SplitMatrices split={current} positions={positions} /> : null}
        </>
      )}
    </details>
  );
}
