import { describe, expect, it } from 'vitest';
import { canRedo, canUndo, commit, createUndoStack, redo, undo, UNDO_LIMIT } from './UndoStack.js';

describe('UndoStack', () => {
  it('undoes and redoes in order, and a new edit clears the redo branch', () => {
    let s = createUndoStack(0);
    s = commit(s, 1, { now: 0 });
    s = commit(s, 2, { now: 10 });
    expect(s.present).toBe(2);
    s = undo(s);
    expect(s.present).toBe(1);
    expect(canRedo(s)).toBe(true);
    s = redo(s);
    expect(s.present).toBe(2);
    s = undo(undo(s));
    expect(s.present).toBe(0);
    expect(canUndo(s)).toBe(false);
    expect(undo(s)).toBe(s);
    s = redo(s);
    s = commit(s, 5, { now: 20 });
    expect(s.future).toEqual([]);
    expect(s.past).toEqual([0, 1]);
  });

  it('coalesces quick edits with one key into one step, but not edits of different keys or slow ones', () => {
    let s = createUndoStack('a');
    s = commit(s, 'ab', { key: 'name', now: 0 });
    s = commit(s, 'abc', { key: 'name', now: 300 });
    expect(s.past).toEqual(['a']);
    s = commit(s, 'abcd', { key: 'name', now: 5000 });
    expect(s.past).toEqual(['a', 'abc']);
    s = commit(s, 'x', { key: 'other', now: 5001 });
    expect(s.past).toEqual(['a', 'abc', 'abcd']);
    // after an undo, typing starts a fresh step
    s = undo(s);
    s = commit(s, 'abcde', { key: 'name', now: 5002 });
    expect(s.past).toEqual(['a', 'abc', 'abcd']);
  });

  it('ignores a commit of the same value and caps the history', () => {
    let s = createUndoStack({ v: 0 });
    expect(commit(s, s.present)).toBe(s);
    for (let i = 1; i <= UNDO_LIMIT + 10; i++) s = commit(s, { v: i }, { now: i });
    expect(s.past.length).toBe(UNDO_LIMIT);
    expect(s.past[0]).toEqual({ v: 10 });
  });
});
