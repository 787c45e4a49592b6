// The local nodes' address plan: bridge, pod range and Service range derived from the state dir, so
// two checkouts on one machine never pick the same names or addresses.
import { createHash } from "node:crypto";

/** Names and ranges of one checkout's pod network. */
export interface NetworkPlan {
  /** Short hex tag derived from the state dir; prefixes every link and namespace name. */
  tag: string;
  /** The Linux bridge carrying the pod veths; its address is the pods' gateway. */
  bridge: string;
  /** Pod range (a /24); `.1` is the bridge, `.2`-`.254` are pod addresses. */
  podCidr: string;
  /**
   * Service ClusterIP range (a /20, 4094 addresses) the API server allocates from; its first address is
   * the `kubernetes` Service. Wide enough for the operator benchmark (200 models, two Services each).
   */
  serviceCidr: string;
  /** The bridge (gateway) address inside the pod range. */
  gateway: string;
}

/** Third octets tried, starting at the state dir's hash, when looking for a free pair of ranges. */
const octets = 200;

/** A stable tag for a state dir (first bytes of its SHA-256). */
export function networkTag(stateDir: string): string {
  return createHash("sha256").update(stateDir).digest("hex").slice(0, 6);
}

/**
 * The Service range paired with pod range 10.97.N.0/24: the N-th /20 of 10.112.0.0/12 (N < 256 stays
 * inside 10.112.0.0-10.127.255.255, far from the pod ranges in 10.97.0.0/16).
 */
export function serviceCidrFor(octet: number): string {
  return `10.${112 + (octet >> 4)}.${(octet & 15) << 4}.0/20`;
}

/**
 * Picks the plan for `stateDir`: pods in 10.97.N.0/24 and Services in the N-th /20 of 10.112.0.0/12,
 * where N starts at a hash of the state dir and moves on while either range overlaps one in
 * `takenCidrs` (the machine's routes that are not ours). Throws when all are taken.
 */
export function planNetwork(stateDir: string, takenCidrs: readonly string[]): NetworkPlan {
  const tag = networkTag(stateDir);
  const start = Number.parseInt(tag, 16) % octets;
  for (let step = 0; step < octets; step += 1) {
    const octet = 10 + ((start + step) % octets);
    const podCidr = `10.97.${octet}.0/24`;
    const serviceCidr = serviceCidrFor(octet);
    if (takenCidrs.some((taken) => overlaps(taken, podCidr) || overlaps(taken, serviceCidr))) continue;
    return { tag, bridge: `jtb${tag}`, podCidr, serviceCidr, gateway: `10.97.${octet}.1` };
  }
  throw new Error(
    "no free pair of ranges (pods /24 in 10.97.0.0/16, Services /20 in 10.112.0.0/12) for the local nodes",
  );
}

/** The address of pod slot `slot` (2-254) in the plan's pod range. */
export function podAddress(plan: NetworkPlan, slot: number): string {
  if (!Number.isInteger(slot) || slot < 2 || slot > 254) throw new Error(`pod slot ${slot} is not in 2-254`);
  return plan.podCidr.replace(/\.0\/24$/, `.${slot}`);
}

/**
 * The bridge's own MAC address: locally administered, unicast, derived from the tag. A Linux bridge
 * left to itself takes the lowest MAC of its ports and changes it when that port goes, so deleting one
 * pod would leave every other pod's ARP entry for the gateway pointing at a MAC no longer there, and
 * their traffic to the API server and the Services blackholed for 30 s and more. Set once, it stays.
 */
export function bridgeMac(plan: NetworkPlan): string {
  // A plan's own tag is 6 hex digits; a second agent's (second-agent.sh) is not, and goes through a hash.
  const hex = /^[0-9a-f]{6}$/.test(plan.tag)
    ? plan.tag
    : createHash("sha256").update(plan.tag).digest("hex").slice(0, 6);
  return `02:6a:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:01`;
}

/**
 * The MAC address of pod slot `slot`'s eth0: the bridge's, with the slot as its last byte (the bridge
 * keeps 01). Fixed per slot, because the agent hands a deleted pod's address to the next pod: with a
 * new random MAC, the ARP entries the host (proxy, probes) and the other pods still hold for that
 * address would send its traffic to the old pod's MAC, lost for 50 s and more until they expire.
 */
export function podMac(plan: NetworkPlan, slot: number): string {
  podAddress(plan, slot); // Checks the slot.
  return `${bridgeMac(plan).slice(0, -2)}${slot.toString(16).padStart(2, "0")}`;
}

/** Name of the network namespace of pod slot `slot`. */
export function podNetns(plan: NetworkPlan, slot: number): string {
  return `jtb${plan.tag}-${slot}`;
}

/** Name of the host end of pod slot `slot`'s veth pair (at most 15 characters, the kernel's limit). */
export function podVeth(plan: NetworkPlan, slot: number): string {
  return `jtb${plan.tag}v${slot}`;
}

/** The first address of a CIDR's range (the `kubernetes` Service's ClusterIP for the Service range). */
export function firstAddress(cidr: string): string {
  const [base] = cidr.split("/");
  return fromNumber(toNumber(base ?? "") + 1);
}

/** True when `address` lies in `cidr`. */
export function inCidr(address: string, cidr: string): boolean {
  const { start, end } = range(cidr);
  const value = toNumber(address);
  return value >= start && value <= end;
}

/** True when two IPv4 CIDRs share any address. */
export function overlaps(a: string, b: string): boolean {
  const left = range(a);
  const right = range(b);
  return left.start <= right.end && right.start <= left.end;
}

function range(cidr: string): { start: number; end: number } {
  const [base, bits] = cidr.includes("/") ? cidr.split("/") : [cidr, "32"];
  const prefix = Number(bits);
  const size = 2 ** (32 - prefix);
  const start = Math.floor(toNumber(base ?? "") / size) * size;
  return { start, end: start + size - 1 };
}

function toNumber(address: string): number {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new Error(`"${address}" is not an IPv4 address`);
  }
  return parts.reduce((value, part) => value * 256 + part, 0);
}

function fromNumber(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}
