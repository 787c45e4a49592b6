// What a container's termination message says, on one line for a status message. jude writes no
// termination-log file; its containers use FallbackToLogsOnError, so the kubelet fills the message of a
// failed exit with the container's last log lines (at most 80 lines and 2 KiB, the first possibly cut).
// jude logs pino JSON lines, and what says why it exited is the last error line ("cannot start the
// embedding server" and its error), not the first bytes of the tail or a routine line logged while
// closing; an uncaught exception is Node's plain report after the last JSON line, whose "Error: …" line
// says it. Other output (a usage error, a message a container wrote itself) is short: kept from its
// start. A last pino line longer than the tail (an error with long aggregate stacks) is cut at its
// start; pino writes its msg last, so that msg is what the cut line says. The text goes into statuses
// and Events, so it is masked like a reconcile error's (redactSecrets): a library may print a
// connection string. Pure.
import { redactSecrets } from "./reconcile-error.ts";
import { headOf } from "./text.ts";

/** The longest text kept, in characters. */
const limit = 300;

/** pino's level number of `error`: lines at this level or above say why a process gave up. */
const errorLevel = 50;

interface LogLine {
  level?: unknown;
  msg?: unknown;
  err?: { message?: unknown };
}

/**
 * One line for `message`: what Node printed after the last pino line (an uncaught exception: its
 * "Error: …" line), else the last pino error line (message and error), else the text on one line.
 */
export function terminationSummary(message: string): string {
  const lines = message.split("\n").map((line) => line.trim());
  const parsed = lines.map(
    (line, index) => parseLogLine(line) ?? (index === 0 ? cutLogLine(line) : undefined),
  );
  const lastLogged = parsed.findLastIndex((line) => line !== undefined);
  const after = lines.slice(lastLogged + 1).filter((line) => line !== "");
  if (after.length > 0) {
    // Node's report of an uncaught exception starts with the source line; its error line says what.
    const thrown = after.find((line) => thrownError.test(line));
    return clip(
      thrown ??
        lines
          .slice(lastLogged + 1)
          .join(" ")
          .replace(/\s+/g, " ")
          .trim(),
    );
  }
  const logged = parsed.filter((line): line is LogLine => line !== undefined);
  const errors = logged.filter((line) => typeof line.level === "number" && line.level >= errorLevel);
  const line = errors.at(-1) ?? logged.at(-1);
  if (line === undefined) return "";
  const cause = typeof line.err?.message === "string" ? line.err.message : "";
  // fetch-model logs its error's message as the line's message too: say it once.
  const msg = line.msg as string;
  return clip(cause === "" || saidIn(msg, cause) ? msg : msg === "" ? cause : `${msg}: ${cause}`);
}

/**
 * Whether the error's message `cause` says nothing `msg` does not: the same, or, as pino writes an
 * error with causes (its message, then each cause's after ": "), `msg` with causes it already says
 * (Node's file errors end with the call and path, ", stat '/x'", which a message may leave out).
 */
function saidIn(msg: string, cause: string): boolean {
  if (msg.includes(cause)) return true;
  if (msg === "" || !cause.startsWith(`${msg}: `)) return false;
  const causes = cause.slice(msg.length + 2).replace(/, \w+ '[^']*'/g, "");
  return msg.includes(causes);
}

/** The first line of Node's report of an uncaught exception ("Error: …", "TypeError [ERR_X]: …"). */
const thrownError = /^(Uncaught )?\w*(Error|Exception)\b/;

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

/** The msg of a pino line whose start the kubelet cut off: `…,"msg":"text"}`. */
function cutLogLine(line: string): LogLine | undefined {
  const msg = /"msg":("(?:[^"\\]|\\.)*")\}$/.exec(line)?.[1];
  if (msg === undefined || line.startsWith("{")) return undefined;
  try {
    return { msg: JSON.parse(msg) as string };
  } catch {
    return undefined;
  }
}

function clip(text: string): string {
  const masked = redactSecrets(text);
  return masked.length <= limit ? masked : `${headOf(masked, limit - 1)}…`;
}
