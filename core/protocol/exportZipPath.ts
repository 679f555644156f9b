/**
 * The HTTP path of an export's zip download (`switchyard serve`): the renderer builds it, serve parses
 * it. Plain names only — no separators, no dot-dot — so a path can never leave the export folder.
 */
export const EXPORT_ZIP_PREFIX = '/api/exports/';

const PLAIN = /^[\w.-]+$/;
export const isPlainName = (s: string) => PLAIN.test(s) && s !== '.' && s !== '..' && s.length <= 200;

/** `/api/exports/<run>/<name>.zip` */
export function exportZipPath(runId: string, name: string): string {
  return `${EXPORT_ZIP_PREFIX}${encodeURIComponent(runId)}/${encodeURIComponent(name)}.zip`;
}

/** `/api/exports/<run>/<name>.zip` → its parts; null for anything else. */
export function parseExportZipPath(path: string): { runId: string; name: string } | null {
  if (!path.startsWith(EXPORT_ZIP_PREFIX) || !path.endsWith('.zip')) return null;
  const parts = path.slice(EXPORT_ZIP_PREFIX.length, -'.zip'.length).split('/');
  if (parts.length !== 2) return null;
  const [runId, name] = parts as [string, string];
  return isPlainName(runId) && isPlainName(name) ? { runId, name } : null;
}
