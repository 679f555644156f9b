import { describe, expect, it } from 'vitest';
import { isCollapsed } from './Trainer.js';

describe('expert collapse', () => {
  it('flags one slot holding most assignments under top-1', () => {
    expect(isCollapsed([0.7, 0.1, 0.1, 0.1], 1)).toBe(true);
    expect(isCollapsed([0.4, 0.2, 0.2, 0.2], 1)).toBe(false);
  });
  it('flags top-2 routing where nearly every token uses the same expert', () => {
    // 8 experts, k=2: balanced each slot sees 1/4 of tokens; here slot 0 sees 96 %.
    expect(isCollapsed([0.48, 0.3, 0.04, 0.04, 0.04, 0.04, 0.03, 0.03], 2)).toBe(true);
    expect(isCollapsed([0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 2)).toBe(false);
  });
  it('does not flag top-2 of 2 experts, where every token uses both by design', () => {
    expect(isCollapsed([0.5, 0.5], 2)).toBe(false);
  });
});
