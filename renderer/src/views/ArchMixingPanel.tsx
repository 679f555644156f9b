import type { ArchMixing } from '../../../core/protocol/protocol.js';
import { MatrixView } from '../charts/MatrixView.js';

/**
 * Mixture-of-Supernets (issue 13: architecture feature × mixing weight): per architecture-routed block, the
 * correlation of each architecture feature with each weight set's mixing weight across probe architectures,
 * and the probes' mixing weights themselves (the smallest and largest subnet first). Numbers from the
 * specialization snapshot (core/train/archMixing.ts).
 */
export function ArchMixingPanel({ mixing }: { mixing: ArchMixing | undefined }) {
  if (!mixing?.blocks.length) return null;
  return (
    <div className="row wrap" data-testid="spec-arch-mixing">
      {mixing.blocks.map((b) => {
        const sets = b.archs[0]?.alpha.length ?? 0;
        const setLabels = Array.from({ length: sets }, (_, k) => `set ${k + 1}`);
        const probeLabels = b.archs.map((_, i) => (i === 0 ? 'smallest' : i === 1 ? 'largest' : `sample ${i - 1}`));
        const id = b.block.replace(/[^\w-]/g, '_');
        return (
          <div key={b.block} className="spec-layer">
            <h4>{b.block}: Mixture-of-Supernets</h4>
            <div className="row wrap">
              <MatrixView
                title={`Architecture feature × mixing weight (Pearson r over ${b.archs.length} archs)`}
                scaleLabel="correlation"
                values={b.correlation}
                rowLabels={mixing.features}
                colLabels={setLabels}
                testId={`spec-mos-corr-${id}`}
                label={`${b.block} correlation of architecture features with mixing weights`}
              />
              <MatrixView
                title="Mixing weight α per probe architecture"
                scaleLabel="α"
                values={b.archs.map((a) => a.alpha)}
                rowLabels={probeLabels}
                colLabels={setLabels}
                testId={`spec-mos-alpha-${id}`}
                label={`${b.block} mixing weights per architecture`}
                cell={14}
              />
            </div>
          </div>
        );
      })}
    </div>
  );
}
