import { exportZipPath } from '../../../core/protocol/exportZipPath.js';

/**
 * The download URL of an export folder on `switchyard serve`, carrying the page's `?token=` like the
 * WebSocket does. Null in the desktop app (the export is a local folder there) or when `dir` is not a
 * folder under <run>/exports/.
 */
export function exportZipUrl(runId: string, dir: string, loc: { search: string } = window.location, desktop = !!window.switchyardHost): string | null {
  if (desktop) return null;
  const parts = dir.split(/[\\/]/).filter(Boolean);
  const name = parts.at(-1);
  if (!name || parts.at(-2) !== 'exports') return null;
  const token = new URLSearchParams(loc.search).get('token');
  return `${exportZipPath(runId, name)}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}
