import { describe, expect, it } from "vitest";
import { parseQuickstartArgs } from "./options.ts";

describe("parseQuickstartArgs", () => {
  it("runs the story interactively on a terminal by default", () => {
    expect(parseQuickstartArgs([], true)).toEqual({
      command: "up",
      interactive: true,
      namespace: "jude-quickstart",
      dashboardPort: 3100,
      kind: false,
    });
  });

  it("never waits for a user without a terminal or with --non-interactive", () => {
    expect(parseQuickstartArgs([], false).interactive).toBe(false);
    expect(parseQuickstartArgs(["--non-interactive"], true).interactive).toBe(false);
  });

  it("parses down, the port and the namespace", () => {
    expect(parseQuickstartArgs(["down", "--namespace", "qs", "--dashboard-port", "0"], true)).toMatchObject({
      command: "down",
      namespace: "qs",
      dashboardPort: 0,
    });
  });

  it("rejects unknown commands and bad ports", () => {
    expect(() => parseQuickstartArgs(["sideways"], true)).toThrow('unknown command "sideways"');
    expect(() => parseQuickstartArgs(["--dashboard-port", "http"], true)).toThrow(
      '--dashboard-port must be a port number, not "http"',
    );
  });

  it("answers --help with the usage, and an unknown flag with the usage after the error", () => {
    expect(parseQuickstartArgs(["--help"], true).command).toBe("help");
    expect(parseQuickstartArgs(["down", "-h"], true).command).toBe("help");
    expect(() => parseQuickstartArgs(["--bogus"], true)).toThrow(
      /Unknown option '--bogus'.*\n\nusage: npm run quickstart/s,
    );
  });
});
