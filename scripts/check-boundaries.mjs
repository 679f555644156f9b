// `npm run lint`: fails when a runtime boundary is crossed (scripts/boundaries.ts) or core/'s floors are (scripts/layers.ts).
import { register } from 'tsx/esm/api';
register();
const { checkBoundaries } = await import('./boundaries.ts');
const { checkLayers } = await import('./layers.ts');
const v = [...checkBoundaries(process.cwd()), ...checkLayers(process.cwd())];
for (const x of v) console.error(`${x.file}:${x.line}: ${x.rule}\n    ${x.text}`);
console.log(v.length ? `${v.length} boundary or layer violation(s)` : 'boundaries and core layers hold');
process.exit(v.length ? 1 : 0);
