// `npm run lint`: fails when a runtime boundary is crossed (see scripts/boundaries.ts).
import { register } from 'tsx/esm/api';
register();
const { checkBoundaries } = await import('./boundaries.ts');
const v = checkBoundaries(process.cwd());
for (const x of v) console.error(`${x.file}:${x.line}: ${x.rule}\n    ${x.text}`);
console.log(v.length ? `${v.length} boundary violation(s)` : 'boundaries hold');
process.exit(v.length ? 1 : 0);
