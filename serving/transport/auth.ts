import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { servingErrors } from "../core/errors.ts";

const RELOAD_INTERVAL_MS = 10_000;

/**
 * Bearer-token authentication from a file (a mounted Kubernetes Secret). The file is re-read every
 * few seconds so a rotated Secret takes effect without a restart. Tokens are compared as sha256
 * digests in constant time, and never logged.
 */
export class BearerTokenAuth {
  readonly #path: string;
  #digest: Buffer;
  readonly #timer: NodeJS.Timeout;

  private constructor(path: string, digest: Buffer) {
    this.#path = path;
    this.#digest = digest;
    this.#timer = setInterval(() => void this.#reload(), RELOAD_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Reads the token file; fails when it is missing or empty. */
  static async fromFile(path: string): Promise<BearerTokenAuth> {
    return new BearerTokenAuth(path, await readTokenDigest(path));
  }

  /** Throws UNAUTHENTICATED unless `authorization` is "Bearer <the token>". */
  check(authorization: string | undefined): void {
    const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
    if (match?.[1] === undefined) throw servingErrors.unauthenticated("missing");
    if (!timingSafeEqual(sha256(match[1]), this.#digest)) throw servingErrors.unauthenticated("invalid");
  }

  /** Stops watching the file. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #reload(): Promise<void> {
    try {
      this.#digest = await readTokenDigest(this.#path);
    } catch {
      // Keep the last good token: a Secret being rewritten must not lock every client out.
    }
  }
}

async function readTokenDigest(path: string): Promise<Buffer> {
  const token = (await readFile(path, "utf8")).trim();
  if (token.length === 0) throw new Error(`the auth token file ${path} is empty`);
  return sha256(token);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
