/**
 * The local pod network on the real kernel (root): a private bridge and two pod namespaces, made by
 * the same functions the agent uses. Deleting one pod must not cut the others off from the gateway,
 * where the agent proxies the API server and the Services. A bridge left to itself takes its lowest
 * port's MAC and changes it when that port goes; the other pods' ARP entries then point at a MAC
 * that no longer exists and their connections hang for 30 s and more (the operator pod lost its
 * Lease that way in the chart's e2e test when its predecessor's pod was deleted).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
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
});
