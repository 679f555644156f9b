import { useState } from 'react';
import { useWorkbench } from '../store/store.js';
import { EditorSpaceGraph } from './SpaceGraph.js';
import { Welcome } from './Welcome.js';
import { SpaceToolbar } from './SpaceToolbar.js';
import { StageEditor, SpaceMeta } from './StageEditor.js';
import { StageStack } from './StageStack.js';

export function SpaceView() {
  const [shape, setShape] = useState<'stack' | 'graph'>('stack');
  return (
    <div className="view space-view" data-testid="view-space">
      <Welcome />
      <SpaceToolbar />
      <div className="space-columns">
        <div>
          <div role="radiogroup" aria-label="Show the space as" className="segmented space-shape">
            {(['stack', 'graph'] as const).map((k) => (
              <button key={k} type="button" role="radio" aria-checked={shape === k} data-testid={`space-show-${k}`} onClick={() => setShape(k)}>
                {k === 'stack' ? 'stages' : 'graph'}
              </button>
            ))}
          </div>
          {shape === 'stack' ? <StageStack /> : <EditorSpaceGraph />}
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
