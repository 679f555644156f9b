import { describe, expect, it } from 'vitest';
import { parseStoredSpace, parseUrlState, urlWith } from './persistence.js';

describe('persistence', () => {
  it('reads and writes the view and run in the URL, keeping the token', () => {
    expect(parseUrlState('?token=t&view=compare&run=r1')).toEqual({ view: 'compare', run: 'r1' });
    expect(parseUrlState('?view=nonsense')).toEqual({ view: null, run: null });
    expect(urlWith('?token=t', { view: 'runs', run: 'r 1' })).toBe('?token=t&view=runs&run=r+1');
    expect(urlWith('?token=t&view=runs&run=r1', { view: 'space', run: null })).toBe('?token=t&view=space');
  });

  it('takes back only something shaped like a space document', () => {
    expect(parseStoredSpace('{"name":"x","stages":[]}')).toEqual({ name: 'x', stages: [] });
    expect(parseStoredSpace('{"name":"x"}')).toBeNull();
    expect(parseStoredSpace('not json')).toBeNull();
    expect(parseStoredSpace(null)).toBeNull();
  });
});
