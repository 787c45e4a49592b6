// The host side of the local pod network (root only): the bridge, the guard routes that keep every
// pod and Service address on this machine, and one network namespace + veth per pod.
import { execFileSync } from "node:child_process";
import { bridgeMac, podAddress, podMac, podNetns, podVeth, type NetworkPlan } from "./network-plan.ts";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // Already there / already gone: setup and teardown are idempotent.
  }
}

/**
 * Makes `cidr` unreachable from this machine (best effort: needs root; idempotent). The simulated
 * pods' addresses get it, so a client of a pretend pod (the operator probing a kwok pod's worker
 * figures) fails at once instead of sending packets out of the default route and waiting for them.
 */
export function guardUnreachable(cidr: string): void {
  tryIp("route", "add", "unreachable", cidr);
}

/** Removes a guard route of `guardUnreachable` (best effort). */
export function unguardUnreachable(cidr: string): void {
  tryIp("route", "del", "unreachable", cidr);
}

/**
 * SIGKILLs every process still in a pod namespace: a pod's processes live nowhere else, and a
 * namespace with a process left in it would outlive its deletion (with its veth).
 */
function killProcessesIn(netns: string): void {
  let pids: string[];
  try {
    pids = ip("netns", "pids", netns).split("\n").filter(Boolean);
  } catch {
    return; // No such namespace.
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/** IPv4 prefixes the machine routes now (default and host routes excluded), for collision checks. */
export function routedCidrs(): string[] {
  const types = new Set([
    "unreachable",
    "local",
    "broadcast",
    "blackhole",
    "prohibit",
    "throw",
    "unicast",
    "multicast",
  ]);
  return ip("-4", "-o", "route", "show", "table", "all")
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .map((words) => (types.has(words[0] ?? "") ? words[1] : words[0]))
    .filter(
      (cidr): cidr is string => cidr !== undefined && cidr !== "" && cidr !== "default" && /^\d/.test(cidr),
    )
    .filter((cidr) => !cidr.startsWith("127."));
}

/**
 * Creates the bridge (gateway address on it) and the routes: every address of the Service range is
 * local to this host (the agent's proxy binds ClusterIPs there; unserved ones refuse at once), and both
 * ranges carry `unreachable` guards so nothing in them ever follows the default route off the machine.
 */
export function setupHostNetwork(plan: NetworkPlan): void {
  tryIp("link", "add", plan.bridge, "type", "bridge");
  // A fixed address: left to itself the bridge takes its lowest port's MAC and changes it when that
  // pod goes, blackholing the other pods' traffic to the gateway until their ARP entries expire.
  ip("link", "set", "dev", plan.bridge, "address", bridgeMac(plan));
  tryIp("addr", "add", `${plan.gateway}/24`, "dev", plan.bridge);
  ip("link", "set", plan.bridge, "up");
  tryIp("route", "add", "unreachable", plan.podCidr, "metric", "4000");
  tryIp("route", "add", "unreachable", plan.serviceCidr);
  tryIp("route", "add", "local", plan.serviceCidr, "dev", "lo", "table", "local");
}

/** Removes every namespace, link and route `setupHostNetwork` and `setupPodNetwork` made. */
export function teardownHostNetwork(plan: NetworkPlan): void {
  for (const name of ip("netns", "list")
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")) {
    if (!name.startsWith(`jtb${plan.tag}-`)) continue;
    killProcessesIn(name);
    tryIp("netns", "delete", name);
  }
  tryIp("link", "delete", plan.bridge);
  tryIp("route", "del", "local", plan.serviceCidr, "dev", "lo", "table", "local");
  tryIp("route", "del", "unreachable", plan.serviceCidr);
  tryIp("route", "del", "unreachable", plan.podCidr, "metric", "4000");
}

/**
 * One pod's network: a namespace whose eth0 (a veth on the bridge) has the pod address. Its routes
 * reach the pod range on the bridge and the Service range through the host, and nothing else: no
 * default route. The testbed's loopback components (API server, Kafka, Redis) stay reachable at
 * 127.0.0.1:<port> inside the pod through DNAT to the gateway, where the agent forwards to them.
 */
export function setupPodNetwork(plan: NetworkPlan, slot: number, loopbackPorts: readonly number[]): string {
  const netns = podNetns(plan, slot);
  const veth = podVeth(plan, slot);
  const address = podAddress(plan, slot);
  tryIp("netns", "delete", netns);
  ip("netns", "add", netns);
  // eth0's MAC is fixed per slot (see podMac): a new pod at a reused address is reached at once.
  ip(
    "link",
    "add",
    veth,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "address",
    podMac(plan, slot),
    "netns",
    netns,
  );
  ip("link", "set", veth, "master", plan.bridge, "up");
  ip("-n", netns, "addr", "add", `${address}/24`, "dev", "eth0");
  ip("-n", netns, "link", "set", "lo", "up");
  ip("-n", netns, "link", "set", "eth0", "up");
  ip("-n", netns, "route", "add", plan.serviceCidr, "via", plan.gateway);
  const inNetns = (command: string, ...args: string[]): void => {
    execFileSync("ip", ["netns", "exec", netns, command, ...args], { stdio: "ignore" });
  };
  if (loopbackPorts.length > 0) {
    inNetns("sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1", "net.ipv4.conf.eth0.route_localnet=1");
    for (const port of loopbackPorts) {
      inNetns(
        "iptables",
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-d",
        "127.0.0.1/32",
        "-p",
        "tcp",
        "--dport",
        String(port),
        "-j",
        "DNAT",
        "--to-destination",
        `${plan.gateway}:${port}`,
      );
    }
    inNetns(
      "iptables",
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-s",
      "127.0.0.0/8",
      "-o",
      "eth0",
      "-j",
      "SNAT",
      "--to-source",
      address,
    );
  }
  return `/run/netns/${netns}`;
}

/** Deletes one pod's namespace (its veth goes with it), killing anything still running in it. */
export function teardownPodNetwork(plan: NetworkPlan, slot: number): void {
  killProcessesIn(podNetns(plan, slot));
  tryIp("netns", "delete", podNetns(plan, slot));
  tryIp("link", "delete", podVeth(plan, slot));
}
