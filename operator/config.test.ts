import { hostname } from "node:os";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { imageRepositoryPattern } from "../controllers/shared/image.ts";
import { ConfigError } from "../plumbing/config-file.ts";
import { loadOperatorConfig, operatorUsage } from "./config.ts";
import { workloadPlacement } from "./placement-config.ts";

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
      concurrency: 16,
      retryMaxDelaySeconds: 60,
      pipelinePollSeconds: 30,
    });
    expect(config.namespaces).toBeUndefined();
  });

  it("defaults the controllers' timers to the values the controllers use without the flags", async () => {
    const { defaultExternalTimeoutMs } = await import("../controllers/bootstrap-run/run-io.ts");
    const { defaultParityTimeoutMs, modelResyncMs } =
      await import("../controllers/embedding-model/reconcile.ts");
    const { collectionPollMs } = await import("../controllers/embedding-model/retention.ts");
    const { pipelinePollMs } = await import("../controllers/nearline-pipeline/caught-up.ts");
    const config = loadOperatorConfig([], {});
    expect(config.externalTimeoutSeconds * 1000).toBe(defaultExternalTimeoutMs);
    expect(config.parityTimeoutSeconds * 1000).toBe(defaultParityTimeoutMs);
    expect(config.modelResyncSeconds * 1000).toBe(modelResyncMs);
    expect(config.collectionPollSeconds * 1000).toBe(collectionPollMs);
    expect(config.pipelinePollSeconds * 1000).toBe(pipelinePollMs);
    expect(
      loadOperatorConfig(["--external-timeout-seconds", "2.5", "--model-resync-seconds=3"], {}),
    ).toMatchObject({ externalTimeoutSeconds: 2.5, modelResyncSeconds: 3, parityTimeoutSeconds: 30 });
    expect(() => loadOperatorConfig(["--parity-timeout-seconds", "0"], {})).toThrow(ConfigError);
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
    expect(() => loadOperatorConfig(["--retry-max-delay-seconds", "0"], {})).toThrow(
      /--retry-max-delay-seconds: /,
    );
    // The figures sampler reuses a sample until 1 s before the poll: 2 s is the shortest period.
    expect(() => loadOperatorConfig(["--pipeline-poll-seconds", "1"], {})).toThrow(
      /--pipeline-poll-seconds: /,
    );
    expect(() => loadOperatorConfig(["--pipeline-poll-seconds", "2.5"], {})).toThrow(
      /--pipeline-poll-seconds: /,
    );
    expect(loadOperatorConfig(["--pipeline-poll-seconds", "5"], {}).pipelinePollSeconds).toBe(5);
    expect(() =>
      loadOperatorConfig(["--renew-deadline-seconds", "1", "--retry-period-seconds", "2"], {}),
    ).toThrow(/renew-deadline-seconds must exceed retry-period-seconds/);
  });
});

describe("operator config: workload placement", () => {
  const toleration = {
    key: "testbed.jude.dev/local-node",
    operator: "Equal",
    value: "true",
    effect: "NoSchedule",
  };

  it("parses the node selector and tolerations from flags and environment", () => {
    const config = loadOperatorConfig(
      ["--workload-node-selector", "testbed.jude.dev/node=local, pool=jude"],
      {
        JUDE_OPERATOR_WORKLOAD_TOLERATIONS: JSON.stringify([toleration]),
      },
    );
    expect(workloadPlacement(config)).toEqual({
      nodeSelector: { "testbed.jude.dev/node": "local", pool: "jude" },
      tolerations: [toleration],
    });
  });

  it("means no defaults when absent or empty", () => {
    const empty = { nodeSelector: {}, tolerations: [] };
    expect(workloadPlacement(loadOperatorConfig([], {}))).toEqual(empty);
    const blank = ["--workload-node-selector", "", "--workload-tolerations", ""];
    expect(workloadPlacement(loadOperatorConfig(blank, {}))).toEqual(empty);
  });

  it("rejects a malformed pair, bad JSON and an invalid toleration, naming the flag", () => {
    expect(() => loadOperatorConfig(["--workload-node-selector", "pool"], {})).toThrow(
      /--workload-node-selector: "pool" is not a label key=value pair/,
    );
    expect(() => loadOperatorConfig(["--workload-node-selector", "a=b=c"], {})).toThrow(ConfigError);
    expect(() => loadOperatorConfig(["--workload-tolerations", "[{"], {})).toThrow(
      /--workload-tolerations: not JSON/,
    );
    expect(() =>
      loadOperatorConfig(["--workload-tolerations", '[{"key":"k","operator":"Exists","value":"v"}]'], {}),
    ).toThrow(/--workload-tolerations: value must be empty when operator is Exists/);
    // The Pod spec's other toleration checks, shared with the CRDs (crds/common.ts).
    expect(() =>
      loadOperatorConfig(
        ["--workload-tolerations", '[{"key":"k","effect":"NoSchedule","tolerationSeconds":60}]'],
        {},
      ),
    ).toThrow(/--workload-tolerations: effect must be NoExecute when tolerationSeconds is set/);
    expect(() => loadOperatorConfig(["--workload-tolerations", '[{"key":"","value":"v"}]'], {})).toThrow(
      /--workload-tolerations: operator must be Exists when key is empty/,
    );
    expect(() => loadOperatorConfig(["--workload-tolerations", '[{"key":"k","value":"a b"}]'], {})).toThrow(
      /--workload-tolerations: .*label value/,
    );
  });

  it("accepts every toleration the Pod spec accepts", () => {
    const accepted = [
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: -1 },
      { operator: "Exists", value: "" },
      { key: "k", operator: "", value: "", effect: "" },
    ];
    const config = loadOperatorConfig(["--workload-tolerations", JSON.stringify(accepted)], {});
    expect(workloadPlacement(config).tolerations).toEqual(accepted);
  });
});

describe("operator config: workload image pull Secrets", () => {
  it("reads the Secret names from the flag or its variable, none by default", () => {
    expect(loadOperatorConfig([], {}).workloadImagePullSecrets).toEqual([]);
    expect(
      loadOperatorConfig(["--workload-image-pull-secrets", "regcred, mirror.creds"], {})
        .workloadImagePullSecrets,
    ).toEqual(["regcred", "mirror.creds"]);
    // Once each: the API server refuses a pod template that lists a pull Secret twice.
    expect(
      loadOperatorConfig(["--workload-image-pull-secrets", "regcred,regcred"], {}).workloadImagePullSecrets,
    ).toEqual(["regcred"]);
    expect(
      loadOperatorConfig([], { JUDE_OPERATOR_WORKLOAD_IMAGE_PULL_SECRETS: "regcred" })
        .workloadImagePullSecrets,
    ).toEqual(["regcred"]);
  });

  it("rejects a name no Secret can have, naming the flag", () => {
    expect(() => loadOperatorConfig(["--workload-image-pull-secrets", "regcred,Reg_Cred"], {})).toThrow(
      /--workload-image-pull-secrets: not a Secret name/,
    );
  });
});

describe("operator config: images", () => {
  const digest = `sha256:${"0123456789abcdef".repeat(4)}`;

  it("refuses a repository that is no image name (every pod it renders would be InvalidImageName)", () => {
    for (const repository of [
      "ghcr.io/jude-dev/jude:1.0",
      `ghcr.io/jude-dev/jude@${digest}`,
      "ghcr.io/Jude-Dev/jude",
      "ghcr.io/jude dev/jude",
      "https://ghcr.io/jude-dev/jude",
      "ghcr.io/jude-dev/",
      "[fd00::1%eth0]:5000/jude",
      "[fd00::1]:5000/Jude",
    ]) {
      expect(() => loadOperatorConfig(["--image-repository", repository], {})).toThrow(
        /--image-repository: not an image name without tag or digest/,
      );
    }
    // The chart refuses the same (values.schema.json, image.repository).
    const schema = JSON.parse(
      readFileSync(new URL("../charts/jude-operator/values.schema.json", import.meta.url), "utf8"),
    ) as { properties: { image: { properties: { repository: { pattern: string } } } } };
    expect(new RegExp(schema.properties.image.properties.repository.pattern).source).toBe(
      imageRepositoryPattern.source,
    );
    for (const repository of [
      "registry.example.com:5000/platform/jude",
      "localhost/jude_ops/x__y",
      "jude",
      "[fd00::1]:5000/platform/jude",
      "[2001:db8::5]/jude",
    ]) {
      expect(loadOperatorConfig(["--image-repository", repository], {}).imageRepository).toBe(repository);
    }
  });

  it("refuses a digest in the tag (the CUDA image would be <tag>@<digest>-cuda), naming the flag to use", () => {
    for (const tag of [`0.1.0@${digest}`, digest]) {
      expect(() => loadOperatorConfig(["--image-tag", tag], {})).toThrow(
        /--image-tag: not an image tag of at most 123 characters \(a digest goes in --image-digest\)/,
      );
    }
    // <tag>-cuda must still be a tag (128 characters at most).
    expect(() => loadOperatorConfig(["--image-tag", "v".repeat(124)], {})).toThrow(/--image-tag/);
    expect(loadOperatorConfig(["--image-tag", "v".repeat(123)], {}).imageTag).toHaveLength(123);
    expect(loadOperatorConfig(["--image-tag", "0.1.0-rc.1_b"], {}).imageTag).toBe("0.1.0-rc.1_b");
  });

  it("reads the digests and the workload pull policy, none by default", () => {
    const defaults = loadOperatorConfig([], {});
    expect([defaults.imageDigest, defaults.cudaImageDigest, defaults.workloadImagePullPolicy]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(
      loadOperatorConfig(
        ["--image-digest", digest, "--cuda-image-digest", digest, "--workload-image-pull-policy", "Always"],
        {},
      ),
    ).toMatchObject({ imageDigest: digest, cudaImageDigest: digest, workloadImagePullPolicy: "Always" });
    expect(() => loadOperatorConfig(["--image-digest", "0.1.0"], {})).toThrow(
      /--image-digest: not an image digest/,
    );
    expect(() => loadOperatorConfig(["--workload-image-pull-policy", "always"], {})).toThrow(
      /--workload-image-pull-policy/,
    );
  });
});

describe("operator config: workload ServiceAccount", () => {
  it("reads the name from the flag, none by default, and refuses a name no ServiceAccount can have", () => {
    expect(loadOperatorConfig([], {}).workloadServiceAccount).toBeUndefined();
    const config = loadOperatorConfig(["--workload-service-account", "jude-workloads"], {});
    expect(workloadPlacement(config).serviceAccountName).toBe("jude-workloads");
    expect(() => loadOperatorConfig(["--workload-service-account", "Jude_Workloads"], {})).toThrow(
      /--workload-service-account: not a ServiceAccount name/,
    );
  });
});

describe("operator usage", () => {
  it("shows each flag's default, the one the parser fills in: the flag given it changes nothing", () => {
    const defaults = loadOperatorConfig([], {});
    const flagLines = operatorUsage()
      .split("\n")
      .filter((line) => line.startsWith("  --"));
    const field = (flag: string) => flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    let shownCount = 0;
    for (const line of flagLines) {
      const [, flag, shown] = /^ {2}--(\S+) .*?(?: \(default ([^()]+)\))? \[JUDE_OPERATOR_\w+\]$/.exec(line)!;
      const value = (defaults as Record<string, unknown>)[field(flag!)];
      if (shown === undefined) {
        // No default shown: the field is absent, or an empty list, when no flag gives it.
        expect(value === undefined || (Array.isArray(value) && value.length === 0), line).toBe(true);
        continue;
      }
      shownCount += 1;
      if (flag === "identity") {
        // This process's own value would mislead on any other.
        expect(shown).toBe("<hostname>-<pid>");
        expect(value).toBe(`${hostname()}-${process.pid}`);
        continue;
      }
      const text = shown.startsWith('"') ? (JSON.parse(shown) as string) : shown;
      expect(loadOperatorConfig([`--${flag}=${text}`], {}), line).toEqual(defaults);
    }
    expect(shownCount).toBeGreaterThan(20);
    expect(operatorUsage()).toContain("--lease-name");
    expect(operatorUsage()).toMatch(
      /--http-port +port of \/healthz, \/readyz and \/metrics \(default 8081\) \[/,
    );
  });

  it("starts every flag's description in one column, the longest flag's included", () => {
    const flagLines = operatorUsage()
      .split("\n")
      .filter((line) => line.startsWith("  --"));
    expect(flagLines.length).toBeGreaterThan(20);
    const columns = new Set(flagLines.map((line) => /^ {2}--\S+ +/.exec(line)![0].length));
    expect([...columns]).toHaveLength(1);
  });
});
