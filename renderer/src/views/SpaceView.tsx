import { useWorkbench } from '../store/store.js';
import { SpaceToolbar } from './SpaceToolbar.js';
import { StageEditor, SpaceMeta } from './StageEditor.js';
import { StageStack } from './StageStack.js';

export function SpaceView() {
  return (
    <div className="view space-view" data-testid="view-space">
      <SpaceToolbar />
      <div className="space-columns">
        <div>
          <StageStack />
          <SpaceJson />
        </div>
        <div className="side-panel">
          <SpaceMeta />
          <StageEditor />
        </div>
      </div>
    </div>
  );
}

/** The document as it will be saved (read-only), for checking what the editor wrote. */
function SpaceJson() {
  const doc = useWorkbench((s) => s.history.present);
  return (
    <details className="space-json">
      <summary>JSON</summary>
      <pre data-testid="space-json">{JSON.stringify(doc, null, 2)}</pre>
    </details>
  );
}
