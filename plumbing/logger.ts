/** The one root logger of every JUDE process: pino JSON lines, level from JUDE_LOG_LEVEL, child bindings. */
import { pino, type Logger, type LevelWithSilent } from "pino";

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
  return pino({ level }, pino.destination({ dest: 1, sync: true })).child({
    component: options.component,
    ...options.bindings,
  });
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** True for a level name pino knows. */
export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
