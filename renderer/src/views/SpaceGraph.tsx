/**
 * The search space as a picture (Netron-like): input → stages → head as boxes, each with its tensor
 * shapes, its choices as ranges, the parameters it allocates and the FLOPs of the shown subnet; the
 * shown subnet's picks are highlighted on it. The graph itself is core/space/spaceGraph.ts.
 */
import { useMemo } from 'react';
import type { Arch, SearchSpace } from '../../../core/space/SearchSpace.js';
import { spaceGraph } from '../../../core/space/spaceGraph.js';
import { validateSpace } from '../../../core/space/validateSpace.js';
import { formatCount } from '../charts/scales.js';
import { useWorkbench } from '../store/store.js';

export function SpaceGraphView({ space, arch, testId }: { space: SearchSpace; arch?: Arch; testId: string }) {
  const nodes = useMemo(() => spaceGraph(space, arch), [space, arch]);
  const params = nodes.reduce((n, x) => n + x.params, 0);
  const flops = nodes.reduce((n, x) => n + x.flops, 0);
  return (
    <figure className="space-graph" data-testid={testId} data-nodes={nodes.length}>
      <figcaption className="muted">
        {arch ? 'this subnet' : 'largest subnet'}: {formatCount(flops)} FLOPs per sample · supernet {formatCount(params)} parameters
      </figcaption>
      <ol>
        {nodes.map((n) => (
          <li key={n.id} className={`graph-node kind-${n.kind}${arch && n.picked ? ' picked' : ''}`} data-testid={`${testId}-node-${n.id}`} data-kind={n.kind}>
            <div className="graph-node-head">
              <b>{n.title}</b>
              <code className="graph-shape">{n.shape}</code>
            </div>
            {n.choices.length ? (
              <div className="graph-choices">
                {n.choices.map((c) => (
                  <span key={c} className="chip">
                    {c}
                  </span>
                ))}
              </div>
            ) : null}
            {arch && n.picked ? <div className="graph-picked">▶ {n.picked}</div> : null}
            {n.params || n.flops ? (
              <div className="graph-cost muted">
                {formatCount(n.params)} params · {formatCount(n.flops)} FLOPs
              </div>
            ) : null}
          </li>
        ))}
      </ol>
    </figure>
  );
}

/** The editor's space as a graph, once it validates. */
export function EditorSpaceGraph() {
  const doc = useWorkbench((s) => s.history.present);
  const parsed = useMemo(() => validateSpace(doc), [doc]);
  if (!parsed.ok)
    return (
      <p className="muted" data-testid="space-graph-invalid">
        The graph appears once the space is valid ({parsed.issues.length} issue{parsed.issues.length === 1 ? '' : 's'}).
      </p>
    );
  return <SpaceGraphView space={parsed.space} testId="space-graph" />;
}
