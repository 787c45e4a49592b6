// Steps the serving scenarios share (serving.test.ts from the checkout, image.test.ts from the built
// image): the namespace with its model volume cleaned up afterwards, the server's JSON log lines, and
// the looping client's first embedding through the Service.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { kubectl } from "../../../support/kubectl.ts";
import { readContainerLog } from "../../../testbed/local-nodes/cli-commands.ts";
import { eventually, pods, withLocalNodes } from "./helpers.ts";

/** withLocalNodes for a serving scenario: also removes its model PersistentVolume and control folder. */
export function withServingScenario(namespace: string, controlDir: string): void {
  withLocalNodes(namespace, async () => {
    await kubectl(["delete", "persistentvolume", `${namespace}-model`, "--wait=false"]).catch(
      () => undefined,
    );
    rmSync(controlDir, { recursive: true, force: true });
  });
}

/** The JSON lines of a pod's `server` container log. */
export function serverLogLines(namespace: string, pod: string): Record<string, unknown>[] {
  return jsonLines(readContainerLog({ pod, namespace, container: "server", previous: false }));
}

/**
 * Asserts that a gone pod's server drained on SIGTERM and logged a complete stop; on failure the
 * message holds the end of the log as written, non-JSON lines too (a native crash). Returns the JSON
 * lines for further checks.
 */
export function expectStoppedOnSigterm(namespace: string, pod: string): Record<string, unknown>[] {
  const text = readContainerLog({ pod, namespace, container: "server", previous: false });
  const lines = jsonLines(text);
  const tail = `the server's log ends:\n${text.trimEnd().split("\n").slice(-20).join("\n")}`;
  expect(lines.find((line) => line.msg === "shutdown requested")?.signal, tail).toBe("SIGTERM");
  expect(lines.find((line) => line.msg === "stopped")?.completed, tail).toBe(true);
  return lines;
}

/** The JSON lines of a log. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Waits until the looping client pod has embedded once through the Service. */
export async function clientFirstEmbedding(namespace: string): Promise<void> {
  await eventually("the client's first embedding", async () => {
    const client = (await pods(namespace, "!app")).find((pod) => pod.metadata.name === "client");
    if (client?.status.phase !== "Running" && client?.status.phase !== "Succeeded") return false;
    return readContainerLog({ pod: "client", namespace, container: "client", previous: false }).includes(
      '{"first":{"dimensions":384}}',
    );
  });
}

/** Stops the looping client (its control file), waits for it to finish and returns its summary. */
export async function stopClient(
  namespace: string,
  controlDir: string,
): Promise<{ ok: number; failed: number }> {
  writeFileSync(join(controlDir, "stop"), "");
  await eventually(
    "the client to finish",
    async () =>
      (await pods(namespace, "!app")).find((pod) => pod.metadata.name === "client")?.status.phase ===
      "Succeeded",
  );
  return jsonLines(readContainerLog({ pod: "client", namespace, container: "client", previous: false })).find(
    (line) => "summary" in line,
  )?.summary as { ok: number; failed: number };
}
