import { SpaceToolbar } from './SpaceToolbar.js';
import { StageEditor, SpaceMeta } from './StageEditor.js';
import { StageStack } from './StageStack.js';

export function SpaceView() {
  return (
    <div className="view space-view" data-testid="view-space">
      <SpaceToolbar />
      <div className="space-columns">
        <StageStack />
        <div className="side-panel">
          <SpaceMeta />
          <StageEditor />
        </div>
      </div>
    </div>
  );
}
