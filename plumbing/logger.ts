/** The one root logger of every JUDE process: pino JSON lines, level from JUDE_LOG_LEVEL, child bindings. */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

/** Levels a process accepts, quietest last. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** Where the root logger's settings come from. */
export interface RootLoggerOptions {
  /** Bound to every line (`component: "nearline"`), so one log stream can hold several processes. */
  readonly component: string;
  /** Wins over the environment (e.g. `jude serve --log-level`). */
  readonly level?: string | undefined;
  /** Read for JUDE_LOG_LEVEL; defaults to the process environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Extra bindings for every line (pipeline, version, ...). */
  readonly bindings?: Readonly<Record<string, unknown>>;
  /** Where lines go; standard output (synchronously) by default. Tests capture lines here. */
  readonly destination?: DestinationStream;
}

/**
 * Creates a process's root logger. The level is `level`, else JUDE_LOG_LEVEL, else `info`; an unknown
 * level is refused with the accepted list instead of pino's terse error.
 */
export function createRootLogger(options: RootLoggerOptions): Logger {
  const level = options.level ?? (options.env ?? process.env).JUDE_LOG_LEVEL ?? "info";
  if (!isLogLevel(level)) {
    throw new Error(`log level ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(", ")}`);
  }
  // Synchronous writes: the last lines before a crash, an OOM kill or a SIGKILL after the grace period
  // reach the log instead of dying in pino's buffer. Processes log a few lines per event, not per call.
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino({ level, serializers: { err: serializeError } }, destination).child({
    component: options.component,
    ...options.bindings,
  });
}

/**
 * `text` with a URL's user and password and a bearer token replaced by `***`: fetch names the URL it
 * refuses, credentials included, and an exec credential plugin's stderr or a server's message can
 * carry a token. For logs and for what endpoints show of an error.
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, "$1***@")
    .replace(/\b(bearer)\s+[^\s"',;]+/gi, "$1 ***");
}

/**
 * pino's error serializer, minus the arguments of a Redis command that ioredis attaches to its errors
 * (`err.command.args`): a refused HELLO/AUTH carries the store's password there, and other commands
 * carry keys and vectors. The command's name stays, to tell which call failed. Credentials in its
 * texts (message, stack, causes) are redacted (redactCredentials). The error itself is not changed.
 */
export function serializeError(error: unknown): unknown {
  return collapseNestedErrors(withoutCommandArguments(pino.stdSerializers.err(error as Error)));
}

/**
 * A serialized error with its nested errors (`aggregateErrors`) written once per kind, with `repeated`
 * their count, and without their stacks: the Kafka client nests every try of every request (brokers
 * down: 6 tries, each "Cannot connect to any broker." with its ECONNREFUSED and a stack each), which
 * made a line logged at each retry 13 KB. The outer error keeps its stack.
 */
function collapseNestedErrors(serialized: unknown, nested = false): unknown {
  if (typeof serialized !== "object" || serialized === null || Array.isArray(serialized)) return serialized;
  const fields = { ...(serialized as Record<string, unknown>) };
  if (nested) delete fields.stack;
  if (Array.isArray(fields.aggregateErrors)) {
    const kinds = new Map<string | symbol, Record<string, unknown>>();
    for (const each of fields.aggregateErrors) {
      const collapsed = collapseNestedErrors(each, true);
      const kind = kindOf(collapsed) ?? Symbol("not comparable");
      const seen = kinds.get(kind);
      if (seen === undefined) kinds.set(kind, { ...(collapsed as Record<string, unknown>) });
      else seen.repeated = ((seen.repeated as number | undefined) ?? 1) + 1;
    }
    fields.aggregateErrors = [...kinds.values()];
  }
  return fields;
}

/**
 * A nested error's JSON, to find its repeats; undefined for one JSON cannot write (a field pointing
 * back at itself, a bigint), which pino's own stringify writes anyway: written on its own, never thrown.
 */
function kindOf(serialized: unknown): string | undefined {
  try {
    return JSON.stringify(serialized);
  } catch {
    return undefined;
  }
}

/**
 * Nested errors (`cause`, `aggregateErrors`: pino's tree of them) are walked however deep they go (the
 * Kafka client nests a request's tries three deep), other fields four levels down. An object already
 * on the path (a field pointing back at its holder) is not walked again: pino writes it "[Circular]".
 */
function withoutCommandArguments(serialized: unknown, depth = 0, path = new WeakSet<object>()): unknown {
  if (typeof serialized === "string") return redactCredentials(serialized);
  if (typeof serialized !== "object" || serialized === null || depth > 4 || path.has(serialized))
    return serialized;
  // Only arrays and object-like values are walked; Buffers, Dates and the like are written as they are.
  const tag = Object.prototype.toString.call(serialized);
  if (tag !== "[object Object]" && tag !== "[object Array]") return serialized;
  path.add(serialized);
  try {
    if (Array.isArray(serialized))
      return serialized.map((item) => withoutCommandArguments(item, depth + 1, path));
    // A copy: below the top level, plain objects are the logged error's own fields, not pino's copies.
    const fields = Object.assign(
      Object.create(Object.getPrototypeOf(serialized) as object | null),
      serialized,
    ) as Record<string, unknown>;
    for (const [key, value] of Object.entries(fields)) {
      const command = value as { args?: unknown } | null;
      if (
        key === "command" &&
        typeof command === "object" &&
        command !== null &&
        command.args !== undefined
      ) {
        const count = Array.isArray(command.args) ? command.args.length : 1;
        fields.command = { ...command, args: `[${count} arguments not logged]` };
      } else if (key === "cause") {
        fields[key] = withoutCommandArguments(value, depth, path);
      } else if (key === "aggregateErrors" && Array.isArray(value) && !path.has(value)) {
        path.add(value);
        fields[key] = value.map((item) => withoutCommandArguments(item, depth, path));
        path.delete(value);
      } else {
        // An error kept in another field and plain objects are walked too.
        fields[key] = withoutCommandArguments(value, depth + 1, path);
      }
    }
    return fields;
  } finally {
    path.delete(serialized);
  }
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** True for a level name pino knows. */
export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
