import { describe, expect, it } from "vitest";
import { runSteps, type Lane, type ProvisionStep } from "./schedule.ts";

/** Steps whose completion the test controls, recording which ran when. */
function harness() {
  const log: string[] = [];
  const finishers = new Map<string, (error?: Error) => void>();
  const step = (name: string, lane: Lane, after: string[] = []): ProvisionStep => ({
    name,
    lane,
    after,
    run: () =>
      new Promise<void>((resolve, reject) => {
        log.push(`start ${name}`);
        finishers.set(name, (error) => (error === undefined ? resolve() : reject(error)));
      }),
  });
  const running = (): string[] => [...finishers.keys()];
  /** Lets the scheduler react to everything settled so far. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  const finish = async (name: string, error?: Error): Promise<void> => {
    const finisher = finishers.get(name);
    if (finisher === undefined) throw new Error(`${name} is not running (running: ${running().join(", ")})`);
    finishers.delete(name);
    log.push(`end ${name}`);
    finisher(error);
    await settle();
  };
  return { log, step, running, finish, settle };
}

describe("provisioning schedule", () => {
  it("fetches the first compile's modules alone, then every download at once beside one compile at a time", async () => {
    const h = harness();
    const done = runSteps([
      h.step("fetch etcd", "net"),
      h.step("build etcd", "cpu", ["fetch etcd"]),
      h.step("fetch kube", "net"),
      h.step("build kube", "cpu", ["fetch kube"]),
      h.step("model venv", "net"),
      h.step("model export", "cpu", ["model venv"]),
      h.step("kafka jars", "net"),
    ]);
    await h.settle();
    expect(h.running()).toEqual(["fetch etcd"]);

    await h.finish("fetch etcd");
    expect(h.running()).toEqual(["build etcd", "fetch kube", "model venv", "kafka jars"]);

    // kube's modules arrive while etcd compiles: its compile waits for the cpu lane.
    await h.finish("fetch kube");
    await h.finish("model venv");
    await h.finish("kafka jars");
    expect(h.running()).toEqual(["build etcd"]);

    // The cpu lane takes the earliest listed ready step next.
    await h.finish("build etcd");
    expect(h.running()).toEqual(["build kube"]);
    await h.finish("build kube");
    expect(h.running()).toEqual(["model export"]);
    await h.finish("model export");
    await expect(done).resolves.toBeUndefined();
  });

  it("while the cpu lane waits, starts no other download until the one it waits for is done", async () => {
    const h = harness();
    const done = runSteps([
      h.step("fetch etcd", "net"),
      h.step("build etcd", "cpu", ["fetch etcd"]),
      h.step("fetch kube", "net"),
      h.step("build kube", "cpu", ["fetch kube"]),
      h.step("kafka jars", "net"),
    ]);
    await h.settle();
    expect(h.running()).toEqual(["fetch etcd"]);
    await h.finish("fetch etcd");
    expect(h.running()).toEqual(["build etcd", "fetch kube", "kafka jars"]);
    await h.finish("kafka jars");
    await h.finish("build etcd");
    expect(h.running()).toEqual(["fetch kube"]);
    await h.finish("fetch kube");
    expect(h.running()).toEqual(["build kube"]);
    await h.finish("build kube");
    await done;
  });

  it("does not hold back a download that a compile's download waits for", async () => {
    const h = harness();
    const done = runSteps([
      h.step("fetch base", "net"),
      h.step("fetch kube", "net", ["fetch base"]),
      h.step("build kube", "cpu", ["fetch kube"]),
    ]);
    await h.settle();
    expect(h.running()).toEqual(["fetch base"]);
    await h.finish("fetch base");
    await h.finish("fetch kube");
    await h.finish("build kube");
    await done;
  });

  it("installs Debian packages one at a time, beside the other lanes", async () => {
    const h = harness();
    const done = runSteps([
      h.step("apt redis", "apt"),
      h.step("apt zsh", "apt"),
      h.step("build helm", "cpu"),
      h.step("kafka jars", "net"),
    ]);
    await h.settle();
    expect(h.running()).toEqual(["apt redis", "build helm", "kafka jars"]);
    await h.finish("apt redis");
    expect(h.running()).toEqual(["build helm", "kafka jars", "apt zsh"]);
    await h.finish("apt zsh");
    await h.finish("build helm");
    await h.finish("kafka jars");
    await done;
  });

  it("after a failure starts nothing more, waits for the running steps, then throws the first error", async () => {
    const h = harness();
    let settled = false;
    const done = runSteps([
      h.step("fetch kube", "net"),
      h.step("build kube", "cpu", ["fetch kube"]),
      h.step("fetch kwok", "net"),
      h.step("build helm", "cpu"),
      h.step("build kwok", "cpu", ["fetch kwok"]),
    ]).finally(() => {
      settled = true;
    });
    done.catch(() => {});
    await h.settle();
    expect(h.running()).toEqual(["fetch kube", "fetch kwok", "build helm"]);

    await h.finish("fetch kube", new Error("proxy said 404"));
    await h.finish("fetch kwok");
    expect(settled).toBe(false);
    expect(h.running()).toEqual(["build helm"]);

    await h.finish("build helm");
    await expect(done).rejects.toThrow("proxy said 404");
    expect(h.log).not.toContain("start build kube");
    expect(h.log).not.toContain("start build kwok");
  });

  it("reports each step's end, with its error when it failed", async () => {
    const h = harness();
    const finished: string[] = [];
    const done = runSteps([h.step("a", "net"), h.step("b", "net")], {
      finished: (step, _seconds, error, running) =>
        finished.push(
          `${step.name}${error === undefined ? "" : ` failed: ${String(error)}`} (running: ${running.join(", ")})`,
        ),
    });
    done.catch(() => {});
    await h.settle();
    await h.finish("b", new Error("boom"));
    await h.finish("a");
    await expect(done).rejects.toThrow("boom");
    expect(finished).toEqual(["b failed: Error: boom (running: a)", "a (running: )"]);
  });

  it("rejects a list it cannot run: a duplicate name, an unknown dependency, a cycle", async () => {
    const h = harness();
    await expect(runSteps([h.step("a", "net"), h.step("a", "cpu")])).rejects.toThrow(
      'provisioning step "a" is listed twice',
    );
    await expect(runSteps([h.step("a", "cpu", ["b"])])).rejects.toThrow(
      'provisioning step "a" waits for unknown step "b"',
    );
    await expect(runSteps([h.step("a", "cpu", ["b"]), h.step("b", "net", ["a"])])).rejects.toThrow(
      "provisioning steps wait on each other in a cycle: a, b",
    );
    expect(h.log).toEqual([]);
  });

  it("does nothing for an empty list (everything cached)", async () => {
    await expect(runSteps([])).resolves.toBeUndefined();
  });
});
