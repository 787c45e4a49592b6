/**
 * The local pod network on the real kernel (root): a private bridge and two pod namespaces, made by
 * the same functions the agent uses. Deleting one pod must not cut the others off from the gateway,
 * where the agent proxies the API server and the Services. A bridge left to itself takes its lowest
 * port's MAC and changes it when that port goes; the other pods' ARP entries then point at a MAC
 * that no longer exists and their connections hang for 30 s and more (the operator pod lost its
 * Lease that way in the chart's e2e test when its predecessor's pod was deleted). Likewise a new pod
 * at a deleted pod's address must be reached at once, though the host and the other pods still hold
 * ARP entries for that address from the old pod.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  routedCidrs,
  setupHostNetwork,
  setupPodNetwork,
  teardownHostNetwork,
  teardownPodNetwork,
} from "../../../testbed/local-nodes/host-network.ts";
import {
  bridgeMac,
  planNetwork,
  podAddress,
  podNetns,
  podVeth,
  type NetworkPlan,
} from "../../../testbed/local-nodes/network-plan.ts";

const run = promisify(execFile);
const plan: NetworkPlan = planNetwork(`/pod-network-test/${process.pid}`, routedCidrs());
const macOf = (link: string): string => readFileSync(`/sys/class/net/${link}/address`, "utf8").trim();

/** Whether a TCP connection from pod `slot`'s namespace to the gateway opens within 2 s. */
async function connectsToGateway(slot: number, port: number): Promise<boolean> {
  const script = `exec 3<>/dev/tcp/${plan.gateway}/${port}`;
  return run("ip", ["netns", "exec", podNetns(plan, slot), "timeout", "2", "bash", "-c", script]).then(
    () => true,
    () => false,
  );
}

/** Whether a TCP connection from this host (where the agent proxies and probes) opens within 2 s. */
async function hostConnects(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (result: boolean): void => {
      socket.destroy();
      done(result);
    };
    socket.setTimeout(2000, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/** Whether a TCP connection from pod `slot`'s namespace to `host:port` opens within 2 s. */
async function podConnects(slot: number, host: string, port: number): Promise<boolean> {
  const script = `exec 3<>/dev/tcp/${host}/${port}`;
  return run("ip", ["netns", "exec", podNetns(plan, slot), "timeout", "2", "bash", "-c", script]).then(
    () => true,
    () => false,
  );
}

/** A TCP server on port 8080 in pod `slot`'s namespace; resolves once it listens. */
async function podServer(slot: number): Promise<ChildProcess> {
  const code = `require("node:net").createServer((s) => s.end()).listen(8080, () => console.log("up"))`;
  const child = spawn("ip", ["netns", "exec", podNetns(plan, slot), process.execPath, "-e", code], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`pod ${slot} server exited with ${code}`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("local pod network", () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    setupHostNetwork(plan);
    setupPodNetwork(plan, 2, []);
    setupPodNetwork(plan, 3, []);
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, plan.gateway, resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    teardownHostNetwork(plan);
  });

  it("keeps the other pods reaching the gateway when the pod with the lowest MAC is deleted", async () => {
    // Pod 3's port gets the lowest MAC on the bridge: the one an unpinned bridge would adopt.
    await run("ip", ["link", "set", "dev", podVeth(plan, 3), "address", "02:00:00:00:00:01"]);
    expect(await connectsToGateway(2, port)).toBe(true);
    expect(await connectsToGateway(3, port)).toBe(true);
    expect(macOf(plan.bridge)).toBe(bridgeMac(plan));

    teardownPodNetwork(plan, 3);

    expect(macOf(plan.bridge)).toBe(bridgeMac(plan));
    expect(await connectsToGateway(2, port)).toBe(true);
  });

  it("reaches a new pod at once at the address of a deleted one", async () => {
    // The agent hands a deleted pod's slot (address) to the next pod. The host (proxy, probes) and
    // the other pods still hold ARP entries for that address from the old pod; they must stay right.
    const address = podAddress(plan, 2);
    setupPodNetwork(plan, 4, []);
    const old = await podServer(2);
    expect(await hostConnects(address, 8080)).toBe(true);
    expect(await podConnects(4, address, 8080)).toBe(true);
    await stop(old);
    teardownPodNetwork(plan, 2);

    setupPodNetwork(plan, 2, []);
    const replacement = await podServer(2);
    try {
      expect(await hostConnects(address, 8080)).toBe(true);
      expect(await podConnects(4, address, 8080)).toBe(true);
    } finally {
      await stop(replacement);
    }
  });
});
