import { describe, expect, it } from 'vitest';
import { issueBelongsTo, issueMessageAt } from './issuePaths.js';

describe('issue paths', () => {
  it('puts an element issue of a choices list at the list field, naming the choice', () => {
    expect(issueBelongsTo('stages[0].block.width[0]', 'stages[0].block.width')).toBe(true);
    expect(issueBelongsTo('stages[0].depth', 'stages[0].depth')).toBe(true);
    expect(issueBelongsTo('stages[0].block.width.x', 'stages[0].block.width')).toBe(false);
    expect(issueBelongsTo('stages[1].block', 'stages[1].block.experts')).toBe(false);
    expect(issueBelongsTo('stages[10].depth', 'stages[1]')).toBe(false);
    expect(issueMessageAt('stages[0].block.width[1]', 'stages[0].block.width', 'Too small')).toBe('choice 2: Too small');
    expect(issueMessageAt('stages[0].depth', 'stages[0].depth', 'x')).toBe('x');
  });
});
