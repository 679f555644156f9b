import { useShallow } from 'zustand/react/shallow';
import { useWorkbench } from '../store/store.js';

const CONNECTION_TEXT = { connecting: 'connecting…', open: 'connected', closed: 'disconnected', restarting: 'reconnecting…' } as const;

/** Connection state and the backend/device the core chose, always visible. */
export function StatusBar() {
  const { connection, hello, record, platform } = useWorkbench(
    useShallow((s) => ({ connection: s.connection, hello: s.hello, record: s.activeRecord, platform: window.switchyardHost ? 'desktop' : 'browser' })),
  );
  const b = record?.backend ?? hello?.backend ?? null;
  return (
    <footer className="status-bar" role="status" aria-live="polite">
      <span className={`conn conn-${connection}`} data-testid="status-connection" data-state={connection}>
        <span className="dot" aria-hidden="true" /> {CONNECTION_TEXT[connection]}
      </span>
      <span data-testid="status-backend" title={b?.notes?.join('\n')}>
        backend: {b ? `${b.name}` : '—'}
      </span>
      <span data-testid="status-device">device: {b ? b.device : '—'}</span>
      {b?.available?.length ? <span className="muted">available: {b.available.join(', ')}</span> : null}
      <span className="toolbar-fill" />
      {hello ? <span className="muted">core {hello.version} · protocol {hello.protocol} · {platform}</span> : null}
    </footer>
  );
}
