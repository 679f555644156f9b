import { RunDashboard } from './RunDashboard.js';
import { RunLauncher } from './RunLauncher.js';
import { RunList } from './RunList.js';

export function RunsView() {
  return (
    <div className="view runs-view" data-testid="view-runs">
      <div className="runs-side">
        <RunLauncher />
        <RunList />
      </div>
      <RunDashboard />
    </div>
  );
}
