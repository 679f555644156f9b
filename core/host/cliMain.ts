/** Process entry of the CLI (bundled to out/cli/switchyard.mjs). */
import { main } from './cli.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
