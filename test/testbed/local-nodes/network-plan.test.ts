import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  bridgeMac,
  firstAddress,
  inCidr,
  overlaps,
  planNetwork,
  podAddress,
  podMac,
  podNetns,
  podVeth,
  serviceCidrFor,
} from "./network-plan.ts";

describe("local node network plan", () => {
  it("derives the same names and ranges from the same state dir, different ones from another", () => {
    const one = planNetwork("/work/a/.testbed", []);
    expect(planNetwork("/work/a/.testbed", [])).toEqual(one);
    const other = planNetwork("/work/b/.testbed", []);
    expect(other.bridge).not.toBe(one.bridge);
    expect(other.podCidr).not.toBe(one.podCidr);
    expect(one.podCidr).toMatch(/^10\.97\.\d+\.0\/24$/);
    expect(one.serviceCidr).toMatch(/^10\.(11[2-9]|12[0-7])\.\d+\.0\/20$/);
    expect(overlaps(one.serviceCidr, one.podCidr)).toBe(false);
    expect(overlaps(other.serviceCidr, one.serviceCidr)).toBe(false);
    expect(one.gateway).toBe(one.podCidr.replace(".0/24", ".1"));
  });

  it("gives the bridge a fixed, locally administered unicast MAC per checkout", () => {
    const one = planNetwork("/work/a/.testbed", []);
    const other = planNetwork("/work/b/.testbed", []);
    expect(bridgeMac(one)).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(bridgeMac(one)).toBe(bridgeMac(planNetwork("/work/a/.testbed", [])));
    expect(bridgeMac(other)).not.toBe(bridgeMac(one));
    const first = Number.parseInt(bridgeMac(one).slice(0, 2), 16);
    expect(first & 0b10).toBe(0b10); // locally administered
    expect(first & 0b01).toBe(0); // unicast
  });

  it("gives each pod slot a fixed MAC of its own, never the bridge's", () => {
    const one = planNetwork("/work/a/.testbed", []);
    const macs = [...Array(253).keys()].map((index) => podMac(one, index + 2));
    expect(new Set([...macs, bridgeMac(one)]).size).toBe(254);
    expect(podMac(one, 2)).toBe(podMac(planNetwork("/work/a/.testbed", []), 2));
    expect(podMac(one, 2)).not.toBe(podMac(planNetwork("/work/b/.testbed", []), 2));
    expect(podMac(one, 254)).toMatch(/^02:6a:([0-9a-f]{2}:){3}fe$/);
    expect(() => podMac(one, 255)).toThrow(/pod slot 255/);
  });

  it("derives valid MACs from a second agent's tag too (not hex: see second-agent.sh)", () => {
    const second = { ...planNetwork("/work/a/.testbed", []), tag: "s1f2e3" };
    const mac = /^02:6a:([0-9a-f]{2}:){3}[0-9a-f]{2}$/;
    expect(bridgeMac(second)).toMatch(mac);
    expect(podMac(second, 7)).toMatch(mac);
    expect(bridgeMac(second)).not.toBe(bridgeMac({ ...second, tag: "s1f2e4" }));
    // What second-agent.sh computes in the shell for its bridge.
    expect(bridgeMac(second)).toBe(
      `02:6a:${createHash("sha256")
        .update("s1f2e3")
        .digest("hex")
        .slice(0, 6)
        .replace(/(..)(..)(..)/, "$1:$2:$3")}:01`,
    );
  });

  it("moves on when a range collides with a route of the machine", () => {
    const first = planNetwork("/x/.testbed", []);
    const moved = planNetwork("/x/.testbed", [first.serviceCidr]);
    expect(moved.serviceCidr).not.toBe(first.serviceCidr);
    expect(overlaps(moved.podCidr, first.podCidr)).toBe(false);
  });

  it("fails clearly when every range is taken", () => {
    expect(() => planNetwork("/x/.testbed", ["10.97.0.0/16"])).toThrow(/no free pair of ranges/);
    expect(() => planNetwork("/x/.testbed", ["10.112.0.0/12"])).toThrow(/no free pair of ranges/);
  });

  it("gives every pod range its own aligned /20 of Services, none overlapping another", () => {
    const ranges = Array.from({ length: 256 }, (_, octet) => serviceCidrFor(octet));
    expect(ranges[0]).toBe("10.112.0.0/20");
    expect(ranges[17]).toBe("10.113.16.0/20");
    expect(ranges[255]).toBe("10.127.240.0/20");
    expect(new Set(ranges).size).toBe(256);
    expect(ranges.every((range) => !overlaps(range, "10.97.0.0/16"))).toBe(true);
    expect(firstAddress(ranges[17]!)).toBe("10.113.16.1");
    expect(inCidr("10.113.31.254", ranges[17]!)).toBe(true);
    expect(inCidr("10.113.32.1", ranges[17]!)).toBe(false);
  });

  it("keeps link and namespace names within the kernel's 15 characters", () => {
    const plan = planNetwork("/some/long/path/.testbed", []);
    expect(podVeth(plan, 254).length).toBeLessThanOrEqual(15);
    expect(plan.bridge.length).toBeLessThanOrEqual(15);
    expect(podNetns(plan, 7)).toBe(`jtb${plan.tag}-7`);
  });

  it("computes pod addresses, the first Service address and containment", () => {
    const plan = planNetwork("/p/.testbed", []);
    expect(podAddress(plan, 2)).toBe(plan.podCidr.replace(".0/24", ".2"));
    expect(() => podAddress(plan, 1)).toThrow("pod slot 1 is not in 2-254");
    expect(firstAddress("10.96.5.0/24")).toBe("10.96.5.1");
    expect(inCidr("10.96.5.77", "10.96.5.0/24")).toBe(true);
    expect(inCidr("10.96.6.1", "10.96.5.0/24")).toBe(false);
    expect(overlaps("10.0.0.0/8", "10.96.5.0/24")).toBe(true);
  });
});
