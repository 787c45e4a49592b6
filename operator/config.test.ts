import { describe, expect, it } from "vitest";
import { ConfigError } from "../plumbing/config-file.ts";
import { loadOperatorConfig } from "./config.ts";

describe("operator config", () => {
  it("has defaults for everything", () => {
    const config = loadOperatorConfig([], {});
    expect(config).toMatchObject({
      leaderElect: true,
      leaseName: "jude-operator",
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      httpPort: 8081,
      concurrency: 4,
    });
    expect(config.namespaces).toBeUndefined();
  });

  it("takes flags over JUDE_OPERATOR_* over platform variables", () => {
    const env = {
      JUDE_OPERATOR_LEASE_NAME: "from-env",
      POD_NAMESPACE: "jude-system",
      POD_NAME: "op-0",
      JUDE_OPERATOR_IDENTITY: "mine",
    };
    const config = loadOperatorConfig(
      ["--lease-name", "from-flag", "--namespaces", "a, b,,c", "--leader-elect=false"],
      env,
    );
    expect(config.leaseName).toBe("from-flag");
    expect(config.leaseNamespace).toBe("jude-system");
    expect(config.identity).toBe("mine");
    expect(config.namespaces).toEqual(["a", "b", "c"]);
    expect(config.leaderElect).toBe(false);
  });

  it("names every bad flag", () => {
    expect(() => loadOperatorConfig(["--http-port", "99999", "--concurrency", "zero"], {})).toThrow(
      /--http-port: .*\n\s+--concurrency:/s,
    );
    expect(() => loadOperatorConfig(["--bogus", "1"], {})).toThrow(ConfigError);
    expect(() =>
      loadOperatorConfig(["--renew-deadline-seconds", "1", "--retry-period-seconds", "2"], {}),
    ).toThrow(/renew-deadline-seconds must exceed retry-period-seconds/);
  });
});
