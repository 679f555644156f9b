import { describe, expect, it } from 'vitest';
import { exportZipUrl } from './downloadUrl.js';

describe('exportZipUrl', () => {
  it('points at the export zip route with the page token, only for export folders in the browser', () => {
    expect(exportZipUrl('r1', '/runs/r1/exports/best', { search: '?token=a b' }, false)).toBe('/api/exports/r1/best.zip?token=a%20b');
    expect(exportZipUrl('r1', '/runs/r1/exports/best/', { search: '' }, false)).toBe('/api/exports/r1/best.zip');
    expect(exportZipUrl('r1', '/home/me/out', { search: '' }, false)).toBeNull();
    expect(exportZipUrl('r1', '/runs/r1/exports/best', { search: '' }, true)).toBeNull();
  });
});
