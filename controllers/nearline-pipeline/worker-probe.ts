// Reads a worker pod's own figures over its ops port: /readyz (totals, freshness) and /metrics (lag per
// partition). A worker that does not answer in time simply contributes no figures this round.
import type { V1Pod } from "@kubernetes/client-node";
import {
  parseConsumerLag,
  parseProcessStart,
  parseWorkerFreshness,
  parseWorkerReadyz,
  parseWorkerWait,
  type WorkerFigures,
} from "./worker-figures.ts";
import { workerOpsPort } from "./worker-config.ts";

/** How long one worker may take to answer; status polling must never stall a reconcile. */
const probeTimeoutMs = 2_000;

async function get(url: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    const response = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(probeTimeoutMs)]),
    });
    // /readyz answers 503 with the same JSON while the worker is not ready; the totals still count.
    return await response.text();
  } catch {
    return undefined;
  }
}

/** The figures of one running worker pod (empty when it has no IP yet or does not answer). */
export async function probeWorker(pod: V1Pod, signal: AbortSignal): Promise<WorkerFigures> {
  const ip = pod.status?.podIP;
  if (ip === undefined || pod.status?.phase !== "Running") return { notRunning: true };
  const base = `http://${ip.includes(":") ? `[${ip}]` : ip}:${workerOpsPort}`;
  const [readyz, metrics] = await Promise.all([
    get(`${base}/readyz`, signal),
    get(`${base}/metrics`, signal),
  ]);
  let body: unknown;
  try {
    body = readyz === undefined ? undefined : JSON.parse(readyz);
  } catch {
    body = undefined;
  }
  return {
    counts: parseWorkerReadyz(body),
    freshness: parseWorkerFreshness(body),
    waitingOn: parseWorkerWait(body),
    lag: metrics === undefined ? undefined : parseConsumerLag(metrics),
    processStartSeconds: metrics === undefined ? undefined : parseProcessStart(metrics),
  };
}
