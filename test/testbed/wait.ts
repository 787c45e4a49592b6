import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `probe` until it returns true or `timeoutMs` passes. Probe errors count as "not yet" so a
 * server that refuses connections while starting is simply retried.
 */
export async function waitFor(
  description: string,
  probe: () => Promise<boolean> | boolean,
  { timeoutMs = 60_000, intervalMs = 200 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const reason = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${reason}`);
}
