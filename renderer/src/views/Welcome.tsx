/** First open: what Switchyard is for, and the example spaces with their descriptions, one click each. */
import { useShallow } from 'zustand/react/shallow';
import type { SpaceDoc } from '../space/spaceEdits.js';
import { rememberWelcomed } from '../store/persistence.js';
import { useWorkbench } from '../store/store.js';

const describe = (space: unknown) => (space && typeof space === 'object' && typeof (space as { description?: unknown }).description === 'string' ? (space as { description: string }).description : '');

export function Welcome() {
  const { examples, show, loadSpace, dismiss } = useWorkbench(
    useShallow((s) => ({ examples: s.examples, show: s.welcome, loadSpace: s.loadSpace, dismiss: s.dismissWelcome })),
  );
  if (!show) return null;
  const close = () => {
    rememberWelcomed();
    dismiss();
  };
  return (
    <section className="panel welcome" aria-label="Welcome" data-testid="welcome">
      <div className="row">
        <h2>Welcome to Switchyard</h2>
        <span className="toolbar-fill" />
        <button type="button" data-testid="welcome-dismiss" onClick={close}>
          Start from an empty space
        </button>
      </div>
      <p className="muted">
        Design a search space of dense, conv and mixture-of-experts stages, train its supernet, watch the routers, search the Pareto front of
        accuracy against latency, parameters or FLOPs, and export the subnet you pick. Start from an example:
      </p>
      <ul className="welcome-examples">
        {examples.map((x) => (
          <li key={x.id} className="welcome-example" data-testid={`welcome-example-${x.id}`}>
            <h3>{x.title}</h3>
            <p>{describe(x.space)}</p>
            <button
              type="button"
              className="primary"
              data-testid={`welcome-open-${x.id}`}
              onClick={() => {
                loadSpace(structuredClone(x.space) as SpaceDoc);
                close();
              }}
            >
              Open
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
