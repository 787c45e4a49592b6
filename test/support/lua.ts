// Runs an Argo CD health check (a Lua 5.1 chunk reading the global `obj` and returning
// `{status, message}`) with a real Lua interpreter on a Kubernetes object, as Argo CD does.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { requireEnv } from "./env.ts";

const execFileAsync = promisify(execFile);

/** A JSON value as a Lua table constructor (strings escaped byte by byte, so any UTF-8 survives). */
export function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string")
    return `"${[...Buffer.from(value, "utf8")].map((byte) => (byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, "0")}`)).join("")}"`;
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([key, entry]) => `[${toLua(key)}] = ${toLua(entry)}`)
    .join(", ")}}`;
}

/** The health a Lua health check gives an object. */
export async function luaHealth(
  script: string,
  object: unknown,
): Promise<{ status: string; message: string }> {
  const directory = mkdtempSync(join(tmpdir(), "lua-health-"));
  const file = join(directory, "check.lua");
  writeFileSync(
    file,
    `obj = ${toLua(object)}\nlocal hs = (function()\n${script}\nend)()\nio.write(hs.status, "\\n", hs.message or "")\n`,
  );
  const { stdout } = await execFileAsync(requireEnv("JUDE_LUA"), [file]);
  const [status = "", ...message] = stdout.split("\n");
  return { status, message: message.join("\n") };
}
