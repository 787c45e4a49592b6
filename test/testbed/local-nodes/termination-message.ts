// The kubelet's termination message for a container with terminationMessagePolicy
// FallbackToLogsOnError that failed without writing its termination-message file: the last 80 lines of
// its log, at most the last 2 KiB (kubelet: MaxContainerTerminationMessageLogLines/Length). Local
// containers write no termination-message file, so with that policy a failed exit always gets its log's tail.
import { closeSync, openSync, readSync, statSync } from "node:fs";

const maxLines = 80;
const maxBytes = 2048;

/** The message for a run that exited `exitCode` with its log in `logFile`, or undefined for none. */
export function fallbackTerminationMessage(
  policy: string | undefined,
  exitCode: number,
  logFile: string,
): string | undefined {
  if (policy !== "FallbackToLogsOnError" || exitCode === 0) return undefined;
  // Only the last 2 KiB can be in the message: never read a long-running container's whole log.
  let text: string;
  try {
    const size = statSync(logFile).size;
    const buffer = Buffer.alloc(Math.min(size, maxBytes));
    const file = openSync(logFile, "r");
    try {
      readSync(file, buffer, 0, buffer.length, size - buffer.length);
    } finally {
      closeSync(file);
    }
    text = buffer.toString("utf8");
  } catch {
    return undefined;
  }
  // The last 80 lines (a final newline ends the last one, it does not start another).
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const bounded = lines.slice(-maxLines).join("\n") + (text.endsWith("\n") ? "\n" : "");
  return bounded === "" ? undefined : bounded;
}
