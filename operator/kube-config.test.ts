import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "./kube-config.ts";

describe("loadKubeConfig", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "jude-kubeconfig-"));
  });

  it("loads a readable kubeconfig", () => {
    const file = join(dir, "config");
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{ name: test, cluster: { server: 'https://127.0.0.1:6443' } }]",
        "users: [{ name: admin, user: { token: abc } }]",
        "contexts: [{ name: test, context: { cluster: test, user: admin } }]",
        "current-context: test",
      ].join("\n"),
    );
    expect(loadKubeConfig(file).getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
  });

  it("refuses a kubeconfig it cannot read, naming the file", () => {
    const missing = join(dir, "missing");
    expect(() => loadKubeConfig(missing)).toThrow(
      expect.objectContaining({
        name: "ConfigError",
        message: expect.stringMatching(new RegExp(`^cannot load the kubeconfig ${missing}: .*ENOENT`)),
      }),
    );
  });

  it("refuses a kubeconfig without a current cluster", () => {
    const file = join(dir, "empty");
    writeFileSync(file, "apiVersion: v1\nkind: Config\n");
    expect(() => loadKubeConfig(file)).toThrow(/has no current cluster/);
  });

  it("refuses to fall back to an unauthenticated localhost:8080 when it finds no credentials", () => {
    // What loadFromDefault does when it finds no KUBECONFIG, ~/.kube/config or service account token
    // (@kubernetes/client-node's config.js), made here so the case does not depend on this machine.
    const noCredentials = (kubeConfig: KubeConfig) =>
      kubeConfig.loadFromClusterAndUser(
        { name: "cluster", server: "http://localhost:8080", skipTLSVerify: false },
        { name: "user" },
      );
    expect(() => loadKubeConfig(undefined, noCredentials)).toThrow(
      expect.objectContaining({
        name: "ConfigError",
        message: expect.stringMatching(/^no Kubernetes credentials: .*automountServiceAccountToken/),
      }),
    );
  });
});
