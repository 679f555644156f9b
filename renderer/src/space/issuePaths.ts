/**
 * Which field shows a validation issue. The core names the bad element of a choices list
 * (`stages[0].block.width[0]`: a negative width), the editor has one field for the list
 * (`stages[0].block.width`): the list's field shows it, naming the element.
 */
export function issueBelongsTo(issuePath: string, fieldPath: string): boolean {
  return issuePath === fieldPath || (issuePath.startsWith(`${fieldPath}[`) && /^\[\d+\]$/.test(issuePath.slice(fieldPath.length)));
}

/** The message as the field shows it: an element's issue says which choice it is (1-based). */
export function issueMessageAt(issuePath: string, fieldPath: string, message: string): string {
  if (issuePath === fieldPath) return message;
  const i = Number(issuePath.slice(fieldPath.length + 1, -1));
  return `choice ${i + 1}: ${message}`;
}
