import { useEffect } from 'react';
import { useWorkbench } from '../store/store.js';

export function Notice() {
  const notice = useWorkbench((s) => s.notice);
  const clear = useWorkbench((s) => s.clearNotice);
  useEffect(() => {
    if (!notice || notice.level === 'error') return;
    const t = setTimeout(clear, 4000);
    return () => clearTimeout(t);
  }, [notice, clear]);
  if (!notice) return null;
  return (
    <div className={`notice notice-${notice.level}`} role={notice.level === 'error' ? 'alert' : 'status'} data-testid="notice">
      <span>{notice.text}</span>
      <button type="button" aria-label="Dismiss" onClick={clear}>
        ✕
      </button>
    </div>
  );
}
