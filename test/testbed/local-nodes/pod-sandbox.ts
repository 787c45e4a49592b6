// A pod's sandbox: its network namespace and address, and the per-pod files every container shares
// (/etc/hosts as cluster DNS, resolv.conf, hostname, /tmp). Torn down when the pod ends.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import type { AgentContext } from "./agent-context.ts";
import { podHostsFile, podResolvConf } from "./cluster-dns.ts";
import { setupPodNetwork, teardownPodNetwork } from "./host-network.ts";
import type { PodMount } from "./mount-plan.ts";
import { podAddress } from "./network-plan.ts";

/** One pod's network and shared files. */
export class PodSandbox {
  readonly podIP: string;
  readonly netnsPath: string;
  readonly dir: string;

  readonly slot: number;
  readonly #context: AgentContext;
  readonly #pod: V1Pod;

  constructor(context: AgentContext, pod: V1Pod, slot: number) {
    this.#context = context;
    this.#pod = pod;
    this.slot = slot;
    this.podIP = podAddress(context.plan, slot);
    this.dir = join(context.dir, "pods", pod.metadata?.uid ?? "unknown");
    mkdirSync(join(this.dir, "etc"), { recursive: true });
    mkdirSync(join(this.dir, "tmp"), { recursive: true });
    chmodSync(join(this.dir, "tmp"), 0o1777);
    writeFileSync(join(this.dir, "etc", "hostname"), `${pod.spec?.hostname ?? pod.metadata?.name}\n`);
    writeFileSync(
      join(this.dir, "etc", "resolv.conf"),
      podResolvConf(context.plan.gateway, pod.metadata?.namespace ?? "default"),
    );
    this.refreshHosts();
    this.netnsPath = setupPodNetwork(context.plan, slot, context.loopbackPorts);
  }

  /** The pod's root folder (its tmpfs root is mounted there inside each container's mount namespace). */
  get rootDir(): string {
    return join(this.dir, "root");
  }

  /** Host folder for a pod volume. */
  get podDir(): string {
    return this.dir;
  }

  /** Files every container of the pod mounts. */
  mounts(): PodMount[] {
    const file = (name: string): PodMount => ({
      target: `/etc/${name}`,
      source: join(this.dir, "etc", name),
      kind: "file",
      readOnly: false,
    });
    return [
      file("hosts"),
      file("resolv.conf"),
      file("hostname"),
      { target: "/tmp", source: join(this.dir, "tmp"), kind: "dir", readOnly: false },
    ];
  }

  /**
   * Rewrites /etc/hosts when the Services changed. Written in place (same inode), because containers
   * see it through a bind mount of the file, and never empty meanwhile (see rewriteInPlace).
   */
  refreshHosts(): void {
    const path = join(this.dir, "etc", "hosts");
    const content = podHostsFile(
      {
        name: this.#pod.metadata?.name ?? "",
        namespace: this.#pod.metadata?.namespace ?? "",
        ip: this.podIP,
        hostname: this.#pod.spec?.hostname,
      },
      this.#context.services(),
      (service) => this.#context.headlessAddresses(service),
    );
    if (!existsSync(path) || readFileSync(path, "utf8") !== content) rewriteInPlace(path, content);
  }

  /** Deletes the namespace, unmounts memory-backed volumes and removes the pod's folder (logs stay). */
  teardown(): void {
    teardownPodNetwork(this.#context.plan, this.slot);
    unmountBelow(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Replaces a file's content in place (same inode), never leaving it empty or cut short: the new content
 * goes over the old, padded with blank lines to the old length, and only then is the file truncated to
 * it. Truncating first (writeFileSync) leaves it empty for a moment, and a name lookup in the pod that
 * reads /etc/hosts then fails with ENOTFOUND: every pod's hosts file is rewritten whenever a Service
 * comes or goes anywhere in the cluster.
 */
export function rewriteInPlace(path: string, content: string): void {
  if (!existsSync(path)) {
    writeFileSync(path, content);
    return;
  }
  const bytes = Buffer.from(content);
  const fd = openSync(path, "r+");
  try {
    const oldSize = fstatSync(fd).size;
    const padded =
      oldSize > bytes.length ? Buffer.concat([bytes, Buffer.alloc(oldSize - bytes.length, "\n")]) : bytes;
    for (let written = 0; written < padded.length;) {
      written += writeSync(fd, padded, written, padded.length - written, written);
    }
    if (oldSize > bytes.length) ftruncateSync(fd, bytes.length);
  } finally {
    closeSync(fd);
  }
}

/** Unmounts every mount at or below `dir` (tmpfs emptyDirs), deepest first. */
export function unmountBelow(dir: string): void {
  const targets = execFileSync("findmnt", ["-rn", "-o", "TARGET"], { encoding: "utf8" })
    .split("\n")
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of targets) execFileSync("umount", ["-l", target]);
}
