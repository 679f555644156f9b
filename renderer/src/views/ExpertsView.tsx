import { useWorkbench } from '../store/store.js';
import { SpecializationPanel } from './SpecializationPanel.js';
import { SubnetSampling } from './SubnetSampling.js';
import { TokenRoutingPanel } from './TokenRoutingPanel.js';

export function ExpertsView() {
  const active = useWorkbench((s) => s.activeRunId);
  return (
    <div className="view experts-view" data-testid="view-experts">
      {active ? (
        <>
          <SpecializationPanel />
          <TokenRoutingPanel />
          <SubnetSampling />
        </>
      ) : (
        <div className="empty">Open a run to see its experts and sampled subnets.</div>
      )}
    </div>
  );
}
