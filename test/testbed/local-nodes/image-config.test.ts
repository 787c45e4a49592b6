import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { containerProcess, type EnvSources } from "./container-process.ts";
import { imageDefaults, imageUser, runFromAnnotation, runFromOf } from "./image-config.ts";

const sources: EnvSources = { configMap: () => undefined, secret: () => undefined, serviceEnv: {} };
const passwd = "root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1001::/home/node:/bin/sh\n";
const group = "root:x:0:\nnode:x:1001:\nstaff:x:50:\n";

/** The project image's config, as `buildah inspect` shows it. */
const jude = imageDefaults({
  User: "65532:65532",
  Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production"],
  Entrypoint: ["jude"],
  Cmd: ["--help"],
  WorkingDir: "/app",
});

const pod = (container: object, annotations?: Record<string, string>): V1Pod =>
  ({
    metadata: { name: "p", namespace: "ns", annotations },
    spec: { containers: [{ name: "main", ...container }] },
  }) as V1Pod;

describe("image defaults", () => {
  it("reads entrypoint, CMD, environment, working directory and numeric user", () => {
    expect(jude).toEqual({
      entrypoint: ["jude"],
      cmd: ["--help"],
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", NODE_ENV: "production" },
      workingDir: "/app",
      user: { uid: 65532, gid: 65532 },
    });
    expect(imageDefaults({}).workingDir).toBe("/");
    expect(imageDefaults({ Entrypoint: null, Cmd: null }).entrypoint).toEqual([]);
  });

  it("resolves a named USER in the image's own passwd and group files", () => {
    expect(imageUser("node", passwd, group)).toEqual({ uid: 1000, gid: 1001 });
    expect(imageUser("node:staff", passwd, group)).toEqual({ uid: 1000, gid: 50 });
    expect(imageUser("1000", passwd, group)).toEqual({ uid: 1000, gid: 1001 });
    expect(imageUser("4242", passwd, group)).toEqual({ uid: 4242, gid: 4242 });
    expect(imageUser("", passwd, group)).toBeUndefined();
    expect(() => imageUser("nobody", passwd, group)).toThrow(/not in the image's \/etc\/passwd/);
    expect(() => imageUser("node:wheel", passwd, group)).toThrow(/not in the image's \/etc\/group/);
  });
});

describe("a container over its image's defaults", () => {
  it("runs entrypoint + CMD as the image's user in its WORKDIR when the pod says nothing", () => {
    const spec = containerProcess(pod({}), { name: "main" }, sources, jude);
    expect(spec.argv).toEqual(["jude", "--help"]);
    expect(spec.workingDir).toBe("/app");
    expect(spec.user).toEqual({ uid: 65532, gid: 65532 });
    expect(spec.env).toMatchObject({
      NODE_ENV: "production",
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: "/",
    });
  });

  it("lets args replace CMD, command replace entrypoint and CMD, and the pod override env, dir and user", () => {
    const args = containerProcess(pod({}), { name: "main", args: ["serve"] }, sources, jude);
    expect(args.argv).toEqual(["jude", "serve"]);
    const command = containerProcess(pod({}), { name: "main", command: ["node", "x.js"] }, sources, jude);
    expect(command.argv).toEqual(["node", "x.js"]);
    const overridden = containerProcess(
      pod({}),
      {
        name: "main",
        workingDir: "/work",
        env: [{ name: "NODE_ENV", value: "test" }],
        securityContext: { runAsUser: 0 },
      },
      sources,
      jude,
    );
    expect(overridden.env.NODE_ENV).toBe("test");
    expect(overridden.workingDir).toBe("/work");
    expect(overridden.user).toEqual({ uid: 0, gid: 0 });
    expect(overridden.env.HOME).toBe("/root");
    const group = containerProcess(
      pod({}),
      { name: "main", securityContext: { runAsGroup: 7 } },
      sources,
      jude,
    );
    expect(group.user).toEqual({ uid: 65532, gid: 7 });
  });

  it("refuses a container with no command at all", () => {
    expect(() => containerProcess(pod({}), { name: "main" }, sources, imageDefaults({}))).toThrow(
      /no command specified/,
    );
  });
});

describe("run-from choice", () => {
  it("takes the pod's annotation over the agent's default and rejects other values", () => {
    expect(runFromOf(pod({}), "checkout")).toBe("checkout");
    expect(runFromOf(pod({}), "image")).toBe("image");
    expect(runFromOf(pod({}, { [runFromAnnotation]: "image" }), "checkout")).toBe("image");
    expect(runFromOf(pod({}, { [runFromAnnotation]: "checkout" }), "image")).toBe("checkout");
    expect(() => runFromOf(pod({}, { [runFromAnnotation]: "imgae" }), "checkout")).toThrow(/imgae/);
  });
});
