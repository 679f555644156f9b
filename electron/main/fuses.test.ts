/**
 * The packaged app's Electron fuses (electron-builder.yml), checked with the installed electron-builder's
 * own loader and schema validation, so a misspelt key fails here rather than being ignored at `npm run dist`.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../core/train/runCliProcess.js';

const require = createRequire(import.meta.url);
const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
  getConfig(dir: string, file: string, extra: null): Promise<{ electronFuses?: Record<string, boolean> }>;
  validateConfiguration(config: unknown, log: unknown): Promise<void>;
};
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };

describe('electron-builder fuses', () => {
  it('turns RunAsNode, NODE_OPTIONS, --inspect and file:// privileges off and checks the asar', async () => {
    const config = await getConfig(REPO_ROOT, 'electron-builder.yml', null);
    await validateConfiguration(config, new DebugLogger(false));
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });
});
