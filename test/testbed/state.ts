import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ComponentName, ComponentState } from "./component.ts";
import { stateDir } from "./paths.ts";

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
  const temporary = `${stateFile()}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, stateFile());
}
