import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BearerTokenAuth } from "./auth.ts";

const opened: BearerTokenAuth[] = [];
afterEach(() => opened.splice(0).forEach((auth) => auth.close()));

async function authWith(token: string): Promise<BearerTokenAuth> {
  const file = join(await mkdtemp(join(tmpdir(), "jude-auth-")), "token");
  await writeFile(file, token);
  const auth = await BearerTokenAuth.fromFile(file);
  opened.push(auth);
  return auth;
}

describe("BearerTokenAuth", () => {
  it("accepts the token from the file (trailing newline of a Secret ignored)", async () => {
    const auth = await authWith("s3cret\n");
    expect(() => auth.check("Bearer s3cret")).not.toThrow();
    expect(() => auth.check("bearer s3cret")).not.toThrow();
  });

  it("refuses a missing or malformed header and a wrong token with distinct messages", async () => {
    const auth = await authWith("s3cret");
    expect(() => auth.check(undefined)).toThrow("missing bearer token");
    expect(() => auth.check("Basic czNjcmV0")).toThrow("missing bearer token");
    expect(() => auth.check("Bearer wrong")).toThrow("invalid bearer token");
  });

  it("refuses to start with an empty token file", async () => {
    await expect(authWith("\n")).rejects.toThrow(/is empty/);
  });
});
