/**
 * Command-line flags, parsed into a plain record that each command then validates with its zod schema
 * (the CLI is a boundary like any other). It sits with the protocol so every command, at whatever floor
 * of core/ it lives, can use it without importing the host.
 */
import { ProtocolError } from './protocol.js';

/** Minimal `--flag value` / `--flag=value` / `--switch` parser; positionals are kept in order. */
export function parseFlags(argv: string[], switches: readonly string[] = []) {
  const flags: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) flags[name] = a.slice(eq + 1);
      else if (switches.includes(name)) flags[name] = true;
      else {
        const v = argv[i + 1];
        if (v === undefined || v.startsWith('--')) throw new ProtocolError('invalid', `--${name} needs a value`, [{ path: `--${name}`, message: 'needs a value' }]);
        flags[name] = v;
        i++;
      }
    } else positionals.push(a);
  }
  return { flags, positionals };
}
