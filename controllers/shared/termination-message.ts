// What a container's termination message says, on one line for a status message. jude writes no
// termination-log file; its containers use FallbackToLogsOnError, so the kubelet fills the message of a
// failed exit with the container's last log lines (at most 80 lines and 2 KiB, the first possibly cut).
// jude logs pino JSON lines, and what says why it exited is the last error line ("cannot start the
// embedding server" and its error), not the first bytes of the tail, a stack trace or a routine line
// logged while closing. Output that is not JSON (a usage error, an uncaught exception, a message a
// container wrote itself) is short: it is kept from its start. Pure.

/** The longest text kept, in characters. */
const limit = 300;

/** pino's level number of `error`: lines at this level or above say why a process gave up. */
const errorLevel = 50;

interface LogLine {
  level?: unknown;
  msg?: unknown;
  err?: { message?: unknown };
}

/** One line for `message`: its last pino error line (message and error), else its text on one line. */
export function terminationSummary(message: string): string {
  const logged = message.split("\n").flatMap((line) => {
    const parsed = parseLogLine(line.trim());
    return parsed === undefined ? [] : [parsed];
  });
  if (logged.length > 0) {
    const errors = logged.filter((line) => typeof line.level === "number" && line.level >= errorLevel);
    const line = errors.at(-1) ?? logged.at(-1)!;
    const cause = typeof line.err?.message === "string" ? line.err.message : "";
    // fetch-model logs its error's message as the line's message too: say it once.
    const msg = line.msg as string;
    return clip(cause === "" || msg.includes(cause) ? msg : msg === "" ? cause : `${msg}: ${cause}`);
  }
  return clip(message.replace(/\s+/g, " ").trim());
}

function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const parsed = JSON.parse(line) as unknown;
    if (typeof parsed !== "object" || parsed === null) return undefined;
    return typeof (parsed as LogLine).msg === "string" ? (parsed as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

function clip(text: string): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}
