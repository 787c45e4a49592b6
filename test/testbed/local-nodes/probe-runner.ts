// Runs one probe against a local container: httpGet, tcpSocket, grpc (grpc.health.v1) or exec
// inside the container's namespaces. Resolves true for success; every failure, timeout included, is false.
import { execFile } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { V1Container, V1Probe, V1LifecycleHandler } from "@kubernetes/client-node";

/** The container a probe or lifecycle hook acts on. */
export interface ProbeTarget {
  podIP: string;
  container: V1Container;
  pid: number;
  env: Record<string, string>;
  user: { uid: number; gid: number } | undefined;
}

/** Runs `probe` (or a lifecycle handler) once with its timeout. */
export async function runProbe(
  probe: V1Probe | V1LifecycleHandler,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<boolean> {
  try {
    if (probe.httpGet !== undefined) {
      const port = resolvePort(probe.httpGet.port, target.container);
      const scheme = (probe.httpGet.scheme ?? "HTTP").toLowerCase();
      const host = probe.httpGet.host ?? target.podIP;
      const url = `${scheme}://${host}:${port}${probe.httpGet.path ?? "/"}`;
      const headers = Object.fromEntries((probe.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]));
      return await httpGet(url, headers, timeoutMs);
    }
    if (probe.tcpSocket !== undefined) {
      return await tcpConnect(
        probe.tcpSocket.host ?? target.podIP,
        resolvePort(probe.tcpSocket.port, target.container),
        timeoutMs,
      );
    }
    if ("grpc" in probe && probe.grpc !== undefined) {
      return await grpcHealth(`${target.podIP}:${probe.grpc.port}`, probe.grpc.service ?? "", timeoutMs);
    }
    if (probe.exec !== undefined) return await execInContainer(probe.exec.command ?? [], target, timeoutMs);
    if ("sleep" in probe && probe.sleep !== undefined) {
      await new Promise((done) => setTimeout(done, Number(probe.sleep!.seconds) * 1000));
      return true;
    }
  } catch {
    return false;
  }
  return false;
}

/** A numeric port, or a named one looked up in the container's ports. */
export function resolvePort(port: number | string, container: V1Container): number {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((candidate) => candidate.name === port);
  if (named === undefined) throw new Error(`container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

async function httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<boolean> {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((done) => {
    const req = request(
      target,
      { method: "GET", timeout: timeoutMs, headers, rejectUnauthorized: false },
      (res) => {
        res.resume();
        done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(false));
    req.end();
  });
}

async function tcpConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (result: boolean): void => {
      socket.destroy();
      done(result);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/** grpc.health.v1.Health/Check, with the two one-field messages encoded by hand (no proto file needed). */
async function grpcHealth(address: string, service: string, timeoutMs: number): Promise<boolean> {
  const client = new Client(address, credentials.createInsecure());
  try {
    return await new Promise<boolean>((done) => {
      const name = Buffer.from(service);
      client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        () => (name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, name.length]), name])),
        (bytes: Buffer) => (bytes.length >= 2 && bytes[0] === 0x08 ? bytes[1] : 0),
        {},
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, status) => done(error === null && status === 1),
      );
    });
  } finally {
    client.close();
  }
}

/** Runs a command in the container's network and mount namespaces, root and environment. */
export async function execInContainer(
  command: string[],
  target: ProbeTarget,
  timeoutMs: number,
): Promise<boolean> {
  const user =
    target.user === undefined ? [] : [`--setuid=${target.user.uid}`, `--setgid=${target.user.gid}`];
  return new Promise((done) => {
    execFile(
      "/usr/bin/nsenter",
      [`--target=${target.pid}`, "--mount", "--net", "--root", "--wd", ...user, "--", ...command],
      { env: target.env, timeout: timeoutMs, killSignal: "SIGKILL" },
      (error) => done(error === null),
    );
  });
}
