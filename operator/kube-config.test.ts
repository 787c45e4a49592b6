import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadKubeConfig, serviceAccountTokenPath } from "./kube-config.ts";

describe("loadKubeConfig", () => {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "jude-kubeconfig-"));
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
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

  // Inside a pod the library finds the service account's token and loads the in-cluster credentials.
  it.skipIf(existsSync(serviceAccountTokenPath))(
    "refuses to fall back to an unauthenticated localhost:8080 when it finds no credentials",
    () => {
      delete process.env.KUBECONFIG;
      process.env.HOME = dir; // no ~/.kube/config
      expect(() => loadKubeConfig(undefined)).toThrow(
        expect.objectContaining({
          name: "ConfigError",
          message: expect.stringMatching(/^no Kubernetes credentials: .*automountServiceAccountToken/),
        }),
      );
    },
  );
});
