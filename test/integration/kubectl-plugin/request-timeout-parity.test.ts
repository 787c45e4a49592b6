// `kubectl jude --request-timeout VALUE` reads VALUE as the testbed's kubectl does (clientcmd's
// ParseTimeout: a non-negative integer is seconds, anything else Go's time.ParseDuration), checked
// against the real binary rather than a reading of its source: what kubectl refuses is refused, what it
// accepts is accepted. The one deliberate difference: more seconds than a Go duration holds, which
// kubectl wraps around to another (often negative) duration, is refused.
import { describe, expect, it } from "vitest";
import { parseRequestTimeout } from "../../../cli/kubectl-jude/cluster.ts";
import { kubectl } from "../../support/kubectl.ts";

const values = [
  ...["", "0", "00", "-0", "+0", "5", "007", "+5", "-5", "-1"],
  ...["1ns", "500us", "500\u00b5s", "500\u03bcs", "1.5ms", "2s", "2m", "2h", ".5s", "1.s", "+5s"],
  ...["1h2m3.5s", "3m2h", "1.5h", "0s", "0.1234567899s", "-5s", "-1h2m", "--5s", "-"],
  ...["2562047h", "2562048h", "9223372036854775807ns", "9223372036854775808ns", "9223372036"],
  ...["9999999999999999999", "soon", "5x", "s", "1 s", " 5s", "5s ", "5S", "1d", ".s", "-.s"],
  ...["1.5", "1e3s", "5s5", "+", "1h-5m", "0x10s"],
];

/** Whether the testbed's kubectl takes `value` (a request that then times out or fails took it too). */
async function kubectlReads(value: string): Promise<boolean> {
  try {
    await kubectl(["get", "--raw", "/version", `--request-timeout=${value}`]);
    return true;
  } catch (error) {
    return !String((error as { stderr?: string }).stderr ?? "").includes("Invalid timeout value");
  }
}

describe("kubectl jude --request-timeout, against the testbed's kubectl", () => {
  it("accepts and refuses what kubectl does", async () => {
    const differences: string[] = [];
    for (const value of values) {
      const kubectlTakes = await kubectlReads(value);
      const pluginTakes = parseRequestTimeout(value) !== undefined;
      if (kubectlTakes !== pluginTakes) differences.push(`${JSON.stringify(value)}: kubectl ${kubectlTakes}`);
    }
    expect(differences).toEqual([]);
    // The deliberate difference: kubectl wraps 9223372037 s to -2562047h47m16.709551616s.
    expect(await kubectlReads("9223372037")).toBe(true);
    expect(parseRequestTimeout("9223372037")).toBeUndefined();
  });
});
