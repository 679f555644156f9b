/**
 * Opening and saving search-space JSON: through the Electron host's dialogs when there is one, else
 * through a file input and a Blob download in the browser.
 */
import type { SpaceDoc } from './spaceEdits.js';

export function spaceFileName(doc: SpaceDoc): string {
  const base = (doc.name || 'space').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'space';
  return `${base}.space.json`;
}

/** The file's text parsed as JSON; the core's validation judges whether it is a search space. */
export function parseSpaceText(text: string): SpaceDoc {
  const v: unknown = JSON.parse(text);
  if (!v || typeof v !== 'object' || !Array.isArray((v as { stages?: unknown }).stages)) {
    throw new Error('not a search space: no "stages" list');
  }
  return v as SpaceDoc;
}

export async function openSpaceFile(): Promise<{ name: string; doc: SpaceDoc } | null> {
  const host = window.switchyardHost;
  if (host) {
    const f = await host.openSpaceFile();
    return f ? { name: f.path, doc: parseSpaceText(f.text) } : null;
  }
  const file = await new Promise<File | null>((resolve) => {
    const input = document.createElement('input');
    input.type = 'file';
    input.accept = '.json,application/json';
    input.setAttribute('data-testid', 'space-file-input');
    input.style.display = 'none';
    input.addEventListener('change', () => {
      resolve(input.files?.[0] ?? null);
      input.remove();
    });
    input.addEventListener('cancel', () => {
      resolve(null);
      input.remove();
    });
    document.body.appendChild(input);
    input.click();
  });
  return file ? { name: file.name, doc: parseSpaceText(await file.text()) } : null;
}

export async function saveSpaceFile(doc: SpaceDoc): Promise<string | null> {
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const name = spaceFileName(doc);
  const host = window.switchyardHost;
  if (host) return host.saveSpaceFile(text, name);
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return name;
}
