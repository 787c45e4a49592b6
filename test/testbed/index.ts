import { rmSync } from "node:fs";
import { componentNames, type Component, type ComponentName, type ComponentState } from "./component.ts";
import { browser } from "./components/browser.ts";
import { chartTools } from "./components/chart-tools.ts";
import { helm } from "./components/helm.ts";
import { kafka } from "./components/kafka.ts";
import { kube } from "./components/kube.ts";
import { kwok } from "./components/kwok.ts";
import { localNodesComponent } from "./components/local-nodes.ts";
import { model } from "./components/model.ts";
import { redis } from "./components/redis.ts";
import { stateDir } from "./paths.ts";
import { forgetAptUpdate } from "./debian-packages.ts";
import { runSteps } from "./schedule.ts";
import { readState, withStateLock, writeState } from "./state.ts";

export { componentNames, type ComponentName } from "./component.ts";
export { TestbedStepError } from "./step.ts";

const components: Record<ComponentName, Component> = {
  kube,
  kwok,
  helm,
  kafka,
  redis,
  model,
  "local-nodes": localNodesComponent,
  "chart-tools": chartTools,
  browser,
};

/** Requested components plus what they require, in start order. */
export function resolveOrder(requested: readonly ComponentName[]): ComponentName[] {
  const wanted = new Set<ComponentName>();
  const visit = (name: ComponentName): void => {
    for (const dependency of components[name].requires) visit(dependency);
    wanted.add(name);
  };
  for (const name of requested.length > 0 ? requested : componentNames) visit(name);
  return componentNames.filter((name) => wanted.has(name));
}

/** Parses component names from the command line, rejecting unknown ones with the valid list. */
export function parseComponentNames(args: readonly string[]): ComponentName[] {
  return args.map((arg) => {
    if (!(componentNames as readonly string[]).includes(arg)) {
      throw new Error(`unknown testbed component "${arg}"; components: ${componentNames.join(", ")}`);
    }
    return arg as ComponentName;
  });
}

export interface UpResult {
  /** Components this call started (the caller may stop just these). */
  started: ComponentName[];
  /** Environment exports of every running component. */
  env: Record<string, string>;
}

/**
 * Provisions (cached) and starts the requested components and what they need. Components already up
 * and ready are left alone, so `up` twice is a no-op.
 */
export async function up(requested: readonly ComponentName[] = []): Promise<UpResult> {
  return withStateLock(() => upLocked(requested));
}

async function upLocked(requested: readonly ComponentName[]): Promise<UpResult> {
  const state = readState();
  const toStart: ComponentName[] = [];
  for (const name of resolveOrder(requested)) {
    const current = state[name];
    if (current !== undefined && (await components[name].isReady(current))) continue;
    toStart.push(name);
  }
  // Everything that will start is provisioned first, all components' steps together.
  await provisionComponents(toStart);
  const started: ComponentName[] = [];
  for (const name of toStart) {
    const component = components[name];
    const current = state[name];
    if (current !== undefined) await component.stop(current);
    process.stderr.write(`[testbed] starting ${name}\n`);
    state[name] = await component.start();
    writeState(state);
    started.push(name);
  }
  return { started, env: environment() };
}

/**
 * Fills the cache for the requested components and what they require (default: all), starting
 * nothing: downloads run beside the compiles, one compile at a time (schedule.ts). Cheap when cached.
 * Needs no state lock: each cache entry has its own.
 */
export async function provision(requested: readonly ComponentName[] = []): Promise<void> {
  await provisionComponents(resolveOrder(requested));
}

async function provisionComponents(names: readonly ComponentName[]): Promise<void> {
  const steps = names.flatMap((name) => components[name].provisionSteps());
  if (steps.length === 0) return;
  forgetAptUpdate();
  const began = Date.now();
  await runSteps(steps, {
    // A failure is told at once, with its error when steps still run (it is thrown once they end).
    finished: (step, seconds, error, running) => {
      if (error === undefined) process.stderr.write(`[testbed] done: ${step.name} (${seconds} s)\n`);
      else if (running.length === 0) process.stderr.write(`[testbed] FAILED: ${step.name} (${seconds} s)\n`);
      else
        process.stderr.write(
          `[testbed] FAILED: ${step.name} (${seconds} s); waiting for ${running.join(", ")}\n` +
            `${error instanceof Error ? error.message : String(error)}\n`,
        );
    },
  });
  process.stderr.write(
    `[testbed] provisioned ${names.join(", ")} in ${Math.round((Date.now() - began) / 1000)} s\n`,
  );
}

/** Restarts one running component on the same ports and data (fault-injection tests). */
export async function restart(name: ComponentName): Promise<void> {
  const state = readState();
  const current = state[name];
  if (current === undefined) throw new Error(`testbed component ${name} is not up`);
  if (current.external)
    throw new Error(`testbed component ${name} is external (an override); it cannot be restarted`);
  await components[name].stop(current);
  state[name] = await components[name].start(current);
  writeState(state);
}

/** Stops one running component, keeping its ports and data for a later `restart`. */
export async function stop(name: ComponentName): Promise<void> {
  const current = readState()[name];
  if (current !== undefined) await components[name].stop(current);
}

/** Stops the given components (default: all) in reverse start order and forgets them. */
export async function down(requested: readonly ComponentName[] = []): Promise<void> {
  await withStateLock(() => downLocked(requested));
}

async function downLocked(requested: readonly ComponentName[]): Promise<void> {
  const state = readState();
  const names = requested.length > 0 ? [...requested] : [...componentNames];
  for (const name of [...componentNames].reverse()) {
    const current = state[name];
    if (current === undefined || !names.includes(name)) continue;
    process.stderr.write(`[testbed] stopping ${name}\n`);
    await components[name].stop(current);
    delete state[name];
    writeState(state);
  }
  if (Object.keys(state).length === 0) rmSync(stateDir(), { recursive: true, force: true });
}

export interface ComponentStatus {
  name: ComponentName;
  status: "ready" | "not ready" | "down";
  external: boolean;
  env: Record<string, string>;
}

/** Whether each component is up and answering. */
export async function status(): Promise<ComponentStatus[]> {
  const state = readState();
  const result: ComponentStatus[] = [];
  for (const name of componentNames) {
    const current: ComponentState | undefined = state[name];
    if (current === undefined) {
      result.push({ name, status: "down", external: false, env: {} });
      continue;
    }
    const ready = await components[name].isReady(current);
    result.push({
      name,
      status: ready ? "ready" : "not ready",
      external: current.external,
      env: current.env,
    });
  }
  return result;
}

/** Environment exports of every component in the state file. */
export function environment(): Record<string, string> {
  const state = readState();
  return Object.assign({}, ...componentNames.map((name) => state[name]?.env ?? {})) as Record<string, string>;
}

/** Every override variable with its meaning, for the CLI help and the README. */
export function overrides(): Record<string, string> {
  return Object.assign({}, ...componentNames.map((name) => components[name].overrides)) as Record<
    string,
    string
  >;
}
