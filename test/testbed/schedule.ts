// Runs the testbed's provisioning steps of all components together instead of one after another.
// Each step belongs to a lane: "cpu" steps (Go compiles, the model export) use both cores of the
// reference machine and run one at a time; "apt" steps (Debian packages) run one at a time because apt
// and dpkg take one lock; "net" steps (module, wheel and jar downloads) run all at once beside them.
// So the downloads of every component happen while the first Go compile runs. While the cpu lane has
// nothing to do, only the first download a compile waits for runs (alone, it is done soonest), so the
// cores are idle only for that one download.

/** Which resource a step mostly uses; decides what it may run beside. */
export type Lane = "cpu" | "apt" | "net";

/** One provisioning step of a component. */
export interface ProvisionStep {
  /** Unique among the steps run together, e.g. "fetch kube-1.34.4"; used in progress lines and errors. */
  name: string;
  lane: Lane;
  /** Names of steps that must have succeeded first (a compile after its module download). */
  after?: readonly string[];
  run(): Promise<void>;
}

/** How many steps of each lane may run at once. */
export const laneSlots: Readonly<Record<Lane, number>> = { cpu: 1, apt: 1, net: Number.POSITIVE_INFINITY };

export interface StepEvents {
  started?(step: ProvisionStep): void;
  /** `running`: the steps still running (after a failure they are waited for before the error is thrown). */
  finished?(step: ProvisionStep, seconds: number, error: unknown, running: readonly string[]): void;
}

/**
 * Runs the steps, each once its `after` steps succeeded and its lane has a free slot, earlier steps
 * first. After a failure no further step starts; the running ones are waited for (a killed build would
 * leave its cache entry to crash-safety, a finished one keeps it), then the first error is thrown.
 * Steps waiting on a failed step never run.
 */
export async function runSteps(
  steps: readonly ProvisionStep[],
  events: StepEvents = {},
  slots: Readonly<Record<Lane, number>> = laneSlots,
): Promise<void> {
  const byName = new Map<string, ProvisionStep>();
  for (const step of steps) {
    if (byName.has(step.name)) throw new Error(`provisioning step "${step.name}" is listed twice`);
    byName.set(step.name, step);
  }
  for (const step of steps)
    for (const dependency of step.after ?? [])
      if (!byName.has(dependency))
        throw new Error(`provisioning step "${step.name}" waits for unknown step "${dependency}"`);

  const pending = [...steps];
  const succeeded = new Set<string>();
  const running = new Map<string, Promise<void>>();
  const busy: Record<Lane, number> = { cpu: 0, apt: 0, net: 0 };
  const errors: unknown[] = [];

  const isReady = (step: ProvisionStep): boolean =>
    (step.after ?? []).every((dependency) => succeeded.has(dependency));
  /** Net steps a pending compile waits for. */
  const feedsCpu = (step: ProvisionStep): boolean =>
    pending.some((other) => other.lane === "cpu" && (other.after ?? []).includes(step.name));

  const startReady = (gated: boolean): void => {
    if (errors.length > 0) return;
    // While the cpu lane has nothing to do, the network goes to the first download a compile waits
    // for, alone: the cores start working after that one download instead of after all of them.
    const cpuIdle = busy.cpu === 0 && !pending.some((step) => step.lane === "cpu" && isReady(step));
    const feeding = cpuIdle && [...running.keys()].some((name) => feedsCpu(byName.get(name)!));
    let feederStarted = false;
    for (const step of [...pending]) {
      if (busy[step.lane] >= slots[step.lane]) continue;
      if (!isReady(step)) continue;
      if (gated && step.lane === "net" && cpuIdle && pending.some((other) => other.lane === "cpu")) {
        if (feeding || feederStarted || !feedsCpu(step)) continue;
        feederStarted = true;
      }
      pending.splice(pending.indexOf(step), 1);
      busy[step.lane] += 1;
      events.started?.(step);
      const began = Date.now();
      const settle = (error?: unknown): void => {
        busy[step.lane] -= 1;
        running.delete(step.name);
        const seconds = Math.round((Date.now() - began) / 1000);
        if (error === undefined) {
          succeeded.add(step.name);
          events.finished?.(step, seconds, undefined, [...running.keys()]);
        } else {
          errors.push(error);
          events.finished?.(step, seconds, error, [...running.keys()]);
        }
      };
      running.set(
        step.name,
        Promise.resolve()
          .then(() => step.run())
          .then(
            () => settle(),
            (error: unknown) => settle(error ?? new Error(`step "${step.name}" failed`)),
          ),
      );
    }
  };

  // Ungated when the gate would leave nothing running (a compile waiting on a chain of downloads).
  const startAll = (): void => {
    startReady(true);
    if (running.size === 0) startReady(false);
  };
  startAll();
  while (running.size > 0) {
    await Promise.race(running.values());
    startAll();
  }
  if (errors.length > 0) throw errors[0];
  if (pending.length > 0)
    throw new Error(
      `provisioning steps wait on each other in a cycle: ${pending.map((step) => step.name).join(", ")}`,
    );
}
