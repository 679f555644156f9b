import { describe, expect, it } from 'vitest';
import { parseFlags } from './cli.js';

describe('parseFlags', () => {
  it('reads --flag value, --flag=value, switches and positionals', () => {
    expect(parseFlags(['space.json', '--steps', '10', '--backend=cpu', '--json'], ['json'])).toEqual({
      flags: { steps: '10', backend: 'cpu', json: true },
      positionals: ['space.json'],
    });
  });
  it('names a flag that lacks its value', () => {
    expect(() => parseFlags(['--steps'])).toThrow('--steps needs a value');
  });
});
