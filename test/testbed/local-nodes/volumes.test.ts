import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { containerMounts, syncVolumes, type VolumeSources } from "./volumes.ts";

const data: Record<string, Record<string, Buffer>> = {
  "cm/config": { "config.yaml": Buffer.from("a: 1\n"), "other.txt": Buffer.from("x") },
  "secret/auth": { token: Buffer.from("s3cret") },
};
const sources: VolumeSources = {
  configMap: (_namespace, name) => data[`cm/${name}`],
  secret: (_namespace, name) => data[`secret/${name}`],
  claimPath: async (_namespace, claim) => `/models/${claim}`,
  token: async (pod, audience, seconds) => `token-for-${pod.metadata?.name}-${audience ?? "api"}-${seconds}`,
};
const pod = (volumes: object[]): V1Pod =>
  ({ metadata: { name: "p", namespace: "ns", uid: "u" }, spec: { containers: [], volumes } }) as V1Pod;

describe("pod volumes", () => {
  const dirs: string[] = [];
  const podDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "jude-volumes-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("writes ConfigMap items with their paths and modes through ..data, and Secrets with defaultMode", async () => {
    const dir = podDir();
    const paths = await syncVolumes(
      pod([
        {
          name: "config",
          configMap: {
            name: "config",
            items: [{ key: "config.yaml", path: "nested/serving.yaml", mode: 0o600 }],
          },
        },
        { name: "auth", secret: { secretName: "auth", defaultMode: 0o400 } },
      ]),
      dir,
      sources,
    );
    const config = paths.get("config")!;
    expect(readFileSync(join(config, "nested/serving.yaml"), "utf8")).toBe("a: 1\n");
    expect(statSync(join(config, "nested/serving.yaml")).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(config, "nested")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(config, "..data"))).toMatch(/^\.\.\d{4}-/);
    expect(() => statSync(join(config, "other.txt"))).toThrow();
    const auth = paths.get("auth")!;
    expect(readFileSync(join(auth, "token"), "utf8")).toBe("s3cret");
    expect(statSync(join(auth, "token")).mode & 0o777).toBe(0o400);
  });

  it("updates files when the ConfigMap changes and leaves an unchanged one alone", async () => {
    const dir = podDir();
    const volumes = [{ name: "config", configMap: { name: "config" } }];
    const config = (await syncVolumes(pod(volumes), dir, sources)).get("config")!;
    const version = readlinkSync(join(config, "..data"));
    await syncVolumes(pod(volumes), dir, sources);
    expect(readlinkSync(join(config, "..data"))).toBe(version);
    data["cm/config"] = { "config.yaml": Buffer.from("a: 2\n") };
    await syncVolumes(pod(volumes), dir, sources);
    expect(readFileSync(join(config, "config.yaml"), "utf8")).toBe("a: 2\n");
    expect(() => statSync(join(config, "other.txt"))).toThrow();
  });

  it("projects the ServiceAccount token, the CA ConfigMap and the namespace like kube-api-access", async () => {
    const dir = podDir();
    data["cm/kube-root-ca.crt"] = { "ca.crt": Buffer.from("PEM") };
    const access = (
      await syncVolumes(
        pod([
          {
            name: "kube-api-access",
            projected: {
              defaultMode: 0o644,
              sources: [
                { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
                { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
                {
                  downwardAPI: {
                    items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
                  },
                },
              ],
            },
          },
        ]),
        dir,
        sources,
      )
    ).get("kube-api-access")!;
    expect(readFileSync(join(access, "token"), "utf8")).toBe("token-for-p-api-3607");
    expect(readFileSync(join(access, "ca.crt"), "utf8")).toBe("PEM");
    expect(readFileSync(join(access, "namespace"), "utf8")).toBe("ns");
  });

  it("maps claims and hostPath to their folders, and refuses missing data unless optional", async () => {
    const dir = podDir();
    const paths = await syncVolumes(
      pod([
        { name: "model", persistentVolumeClaim: { claimName: "minilm" } },
        { name: "host", hostPath: { path: "/srv/data" } },
        { name: "maybe", secret: { secretName: "absent", optional: true } },
        { name: "scratch", emptyDir: {} },
      ]),
      dir,
      sources,
    );
    expect(paths.get("model")).toBe("/models/minilm");
    expect(paths.get("host")).toBe("/srv/data");
    expect(statSync(paths.get("scratch")!).mode & 0o777).toBe(0o777);
    await expect(
      syncVolumes(pod([{ name: "x", secret: { secretName: "absent" } }]), dir, sources),
    ).rejects.toThrow('secret "absent" not found');
    await expect(syncVolumes(pod([{ name: "x", iscsi: {} }]), dir, sources)).rejects.toThrow(
      'volume "x" of type iscsi is not supported on local nodes',
    );
  });

  it("keeps an emptyDir's fsGroup setgid bit across the periodic resyncs", async () => {
    // The kubelet makes an emptyDir 2777 under fsGroup, so files the containers create there inherit
    // the group; a resync that reset the folder to 0777 lost that after the first 2 s.
    const dir = podDir();
    const withFsGroup = {
      ...pod([{ name: "scratch", emptyDir: {} }]),
      spec: {
        containers: [],
        volumes: [{ name: "scratch", emptyDir: {} }],
        securityContext: { fsGroup: 65532 },
      },
    } as V1Pod;
    const scratch = (await syncVolumes(withFsGroup, dir, sources)).get("scratch")!;
    expect(statSync(scratch).mode & 0o7777).toBe(0o2777);
    await syncVolumes(withFsGroup, dir, sources);
    expect(statSync(scratch).mode & 0o7777).toBe(0o2777);
    expect(statSync(scratch).gid).toBe(65532);
  });

  it("turns volumeMounts into mounts, subPath and files included", () => {
    const dir = podDir();
    writeFileSync(join(dir, "file.yaml"), "");
    const mounts = containerMounts(
      {
        volumeMounts: [
          { name: "config", mountPath: "/etc/jude", readOnly: true },
          { name: "config", mountPath: "/etc/one.yaml", subPath: "file.yaml" },
        ],
      },
      new Map([["config", dir]]),
      (path) => path.endsWith(".yaml"),
    );
    expect(mounts).toEqual([
      { target: "/etc/jude", source: dir, kind: "dir", readOnly: true },
      { target: "/etc/one.yaml", source: join(dir, "file.yaml"), kind: "file", readOnly: false },
    ]);
    expect(() =>
      containerMounts({ volumeMounts: [{ name: "nope", mountPath: "/x" }] }, new Map(), () => false),
    ).toThrow('volumeMount "nope" names no volume of the pod');
  });
});
