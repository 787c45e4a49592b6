/**
 * A Secret volume as the kubelet lays it out and updates it (its AtomicWriter): `<key> -> ..data/<key>`,
 * `..data -> ..<timestamp>/`, a rotation writes a new directory and renames a new `..data` link over
 * the old one, then removes the old directory. For tests of processes that read a mounted Secret again.
 */
import {
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { EmbeddingClient, EmbeddingClientError } from "../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../serving/server.ts";
import { waitFor } from "../testbed/wait.ts";
import { metricSum } from "./nearline-processes.ts";

/** A Secret volume holding one key, `token`, written and rotated the way the kubelet does it. */
export class SecretVolume {
  readonly dir = mkdtempSync(join(tmpdir(), "jude-secret-volume-"));
  #generation = 0;

  constructor(token: string) {
    this.#writeGeneration(token);
    symlinkSync(join("..data", "token"), join(this.dir, "token"));
  }

  get tokenFile(): string {
    return join(this.dir, "token");
  }

  /** The kubelet's AtomicWriter: new timestamped directory, `..data_tmp` link to it, renamed over `..data`, old one removed. */
  rotate(token: string): void {
    const old = readlinkSync(join(this.dir, "..data"));
    this.#writeGeneration(token);
    rmSync(join(this.dir, old), { recursive: true });
  }

  #writeGeneration(token: string): void {
    const name = `..2026_12_05_03_00_00.${++this.#generation}`;
    mkdirSync(join(this.dir, name));
    writeFileSync(join(this.dir, name, "token"), `${token}\n`, { mode: 0o440 });
    symlinkSync(name, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
  }
}

/** Calls `server` refused for their token (UNAUTHENTICATED) so far. */
export async function refusedCalls(server: EmbeddingServer): Promise<number> {
  const text = await server.metrics.registry.metrics();
  return metricSum(text, "jude_serving_requests_total", 'code="UNAUTHENTICATED"');
}

/** Waits until the server at `address` (which re-reads its token file every 10 s) accepts `token`. */
export async function untilServerAccepts(address: string, token: string): Promise<void> {
  const client = new EmbeddingClient({ address, token, deadlineMs: 10_000 });
  try {
    await waitFor(`the server to accept ${token}`, async () => {
      try {
        await client.embed(["probe"]);
        return true;
      } catch (error) {
        if (error instanceof EmbeddingClientError && error.code === GrpcStatus.UNAUTHENTICATED) return false;
        throw error;
      }
    });
  } finally {
    client.close();
  }
}
