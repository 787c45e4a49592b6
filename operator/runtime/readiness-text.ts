// How an error reads in /readyz: that endpoint is probed and often scraped without authentication, and
// its body is one line per check, so an error's message (an API server's HTML page, an exec credential
// plugin's stderr, fetch naming a server URL) is cut to one bounded line without credentials in it.

import { redactCredentials } from "../../plumbing/logger.ts";

/** The longest message /readyz shows for one check, in characters (after escaping). */
export const maxReadinessTextLength = 500;

/**
 * `error`'s message for /readyz: a URL's user and password and a bearer token replaced by `***`,
 * control characters escaped (a newline could forge another check's line), cut after
 * maxReadinessTextLength characters with the number left out.
 */
export function readinessText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const redacted = redactCredentials(message);
  // eslint-disable-next-line no-control-regex -- the control characters are what is matched
  const escaped = redacted.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, escapeControl);
  const characters = [...escaped];
  if (characters.length <= maxReadinessTextLength) return escaped;
  const kept = characters.slice(0, maxReadinessTextLength).join("");
  return `${kept}… (${characters.length - maxReadinessTextLength} more characters)`;
}

function escapeControl(character: string): string {
  const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  return named[character] ?? `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`;
}
