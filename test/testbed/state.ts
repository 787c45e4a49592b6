import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ComponentName, ComponentState } from "./component.ts";
import { stateDir } from "./paths.ts";
import { replaceFile } from "./replace-file.ts";

export type TestbedState = Partial<Record<ComponentName, ComponentState>>;

const stateFile = (): string => join(stateDir(), "state.json");

/** Reads the running testbed's state (empty when nothing was started from this checkout). */
export function readState(): TestbedState {
  if (!existsSync(stateFile())) return {};
  return JSON.parse(readFileSync(stateFile(), "utf8")) as TestbedState;
}

/** Writes the state atomically so a crash never leaves half a file. */
export function writeState(state: TestbedState): void {
  mkdirSync(stateDir(), { recursive: true });
  replaceFile(stateFile(), `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Runs `action` while holding the state dir's lock, so two `up`s (the test script's and a test
 * run's global setup, or two shells) never start one component twice: a second agent or broker on
 * the same state would run every pod twice and leave a process no state records. The lock is a
 * directory (atomic to create) holding its owner's pid; one left by a dead process is taken over.
 */
export async function withStateLock<T>(action: () => Promise<T>): Promise<T> {
  const lock = join(stateDir(), "lock");
  mkdirSync(stateDir(), { recursive: true });
  for (let waitedMs = 0; ; waitedMs += 500) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") mkdirSync(stateDir(), { recursive: true });
      const holder = Number.parseInt(
        existsSync(join(lock, "pid")) ? readFileSync(join(lock, "pid"), "utf8") : "",
        10,
      );
      if (Number.isFinite(holder) && !pidAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else {
        if (waitedMs > 0 && waitedMs % 30_000 === 0)
          process.stderr.write(`[testbed] waiting for process ${holder} to finish its testbed change\n`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
  try {
    return await action();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
