import { describe, expect, it } from "vitest";
import {
  firstAddress,
  inCidr,
  overlaps,
  planNetwork,
  podAddress,
  podNetns,
  podVeth,
} from "./network-plan.ts";

describe("local node network plan", () => {
  it("derives the same names and ranges from the same state dir, different ones from another", () => {
    const one = planNetwork("/work/a/.testbed", []);
    expect(planNetwork("/work/a/.testbed", [])).toEqual(one);
    const other = planNetwork("/work/b/.testbed", []);
    expect(other.bridge).not.toBe(one.bridge);
    expect(other.podCidr).not.toBe(one.podCidr);
    expect(one.podCidr).toMatch(/^10\.97\.\d+\.0\/24$/);
    expect(one.serviceCidr).toBe(one.podCidr.replace("10.97.", "10.96."));
    expect(one.gateway).toBe(one.podCidr.replace(".0/24", ".1"));
  });

  it("moves on when a range collides with a route of the machine", () => {
    const first = planNetwork("/x/.testbed", []);
    const moved = planNetwork("/x/.testbed", [first.serviceCidr]);
    expect(moved.serviceCidr).not.toBe(first.serviceCidr);
    expect(overlaps(moved.podCidr, first.podCidr)).toBe(false);
  });

  it("fails clearly when every range is taken", () => {
    expect(() => planNetwork("/x/.testbed", ["10.96.0.0/15"])).toThrow(/no free pair of \/24 ranges/);
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
