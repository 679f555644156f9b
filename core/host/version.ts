/** Kept equal to package.json's version by core/host/version.test.ts. */
export const VERSION = '0.1.0';
