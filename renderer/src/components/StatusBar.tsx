import { useShallow } from 'zustand/react/shallow';
import { useWorkbench } from '../store/store.js';

const CONNECTION_TEXT = { connecting: 'connecting…', open: 'connected', closed: 'disconnected', restarting: 'reconnecting…' } as const;

/** Connection state and the backend/device the server's core chose, always visible. */
export function StatusBar() {
  const { connection, hello, platform } = useWorkbench(
    useShallow((s) => ({ connection: s.connection, hello: s.hello, platform: window.switchyardHost ? 'desktop' : 'browser' })),
  );
  // The server's backend, always: the open run's own backend is in its header.
  const b = hello?.backend ?? null;
  return (
    <footer className="status-bar" role="status" aria-live="polite">
      <span className={`conn conn-${connection}`} data-testid="status-connection" data-state={connection}>
        <span className="dot" aria-hidden="true" /> {CONNECTION_TEXT[connection]}
      </span>
      <span data-testid="status-backend" title={b?.notes?.join('\n') ?? 'The backend the server trains on by default'}>
        backend: {b ? `${b.name}` : '—'}
      </span>
      <span data-testid="status-device">device: {b ? b.device : '—'}</span>
      {b?.available?.length ? <span className="muted">available: {b.available.join(', ')}</span> : null}
      <span className="toolbar-fill" />
      {hello ? <span className="muted">core {hello.version} · protocol {hello.protocol} · {platform}</span> : null}
    </footer>
  );
}
