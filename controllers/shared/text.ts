// Cutting text for statuses and Events. Pure.

/**
 * The first `length` UTF-16 units of `text`, or one fewer when the cut would fall between the two
 * halves of a surrogate pair: a lone half reaches the API server as U+FFFD, so a message cut there
 * would never read back as the one written (and each reconcile would take it for a new one).
 */
export function headOf(text: string, length: number): string {
  const end = Math.max(0, length);
  const last = text.charCodeAt(end - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff && end < text.length ? end - 1 : end);
}
