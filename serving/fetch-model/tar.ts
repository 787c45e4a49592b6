/** A minimal, safe tar reader for model archives (regular files and folders only, no escaping paths). */
import { mkdir, open } from "node:fs/promises";
import { isAbsolute, join, normalize, sep } from "node:path";
import { ByteReader } from "./byte-reader.ts";
import { FetchModelError } from "./errors.ts";

const BLOCK = 512;

/** True when the first bytes of a file look like a (ustar or GNU) tar archive. */
export function looksLikeTar(head: Buffer): boolean {
  return head.length >= 263 && head.subarray(257, 262).toString("latin1") === "ustar";
}

/**
 * Extracts a tar stream into `destination`, streaming file contents (model weights can be many
 * gigabytes). Regular files and directories only; links are refused, as are paths that would escape
 * the destination. Long names from pax ('x') and GNU ('L') headers are honoured. Returns the files
 * written, relative to `destination`.
 */
export async function extractTar(source: AsyncIterable<Uint8Array>, destination: string): Promise<string[]> {
  const reader = new ByteReader(source);
  const written: string[] = [];
  let longName: string | undefined;
  for (;;) {
    const header = await reader.read(BLOCK);
    if (header.length === 0 || header.every((byte) => byte === 0)) return written;
    if (header.length < BLOCK)
      throw new FetchModelError("INVALID_ARCHIVE", "tar archive ends inside a header");
    verifyChecksum(header);
    const type = String.fromCharCode(header[156] ?? 0);
    const size = parseOctal(header.subarray(124, 136));
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x" || type === "L") {
      const body = await reader.read(padded);
      longName =
        type === "L" ? cString(body.subarray(0, size)) : (paxPath(body.subarray(0, size)) ?? longName);
      continue;
    }
    const prefix = cString(header.subarray(345, 500));
    const shortName = cString(header.subarray(0, 100));
    const name = longName ?? (prefix ? `${prefix}/${shortName}` : shortName);
    longName = undefined;
    if (type === "g") {
      await reader.read(padded);
      continue;
    }
    const target = safeTarget(destination, name);
    if (type === "5") {
      await mkdir(target, { recursive: true });
      continue;
    }
    if (type !== "0" && type !== "\0" && type !== "7") {
      throw new FetchModelError(
        "UNSAFE_ARCHIVE",
        `tar entry ${name} has type '${type}'; only files and directories are extracted`,
      );
    }
    await mkdir(join(target, ".."), { recursive: true });
    const file = await open(target, "w");
    try {
      let remaining = size;
      while (remaining > 0) {
        const chunk = await reader.readSome(Math.min(remaining, 1 << 20));
        if (chunk.length === 0)
          throw new FetchModelError("INVALID_ARCHIVE", `tar archive ends inside ${name}`);
        await file.write(chunk);
        remaining -= chunk.length;
      }
    } finally {
      await file.close();
    }
    await reader.read(padded - size);
    written.push(name);
  }
}

function safeTarget(destination: string, name: string): string {
  const cleaned = normalize(name).replace(/^(\.\/)+/, "");
  if (isAbsolute(name) || cleaned === ".." || cleaned.startsWith(`..${sep}`)) {
    throw new FetchModelError("UNSAFE_ARCHIVE", `tar entry ${name} would be written outside the destination`);
  }
  return join(destination, cleaned);
}

function verifyChecksum(header: Buffer): void {
  const stored = parseOctal(header.subarray(148, 156));
  let sum = 0;
  for (let index = 0; index < BLOCK; index++)
    sum += index >= 148 && index < 156 ? 0x20 : (header[index] ?? 0);
  if (sum !== stored)
    throw new FetchModelError("INVALID_ARCHIVE", "tar header checksum mismatch: the archive is corrupt");
}

function parseOctal(field: Buffer): number {
  // GNU base-256 encoding for sizes of 8 GiB and more: high bit set, big-endian binary.
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = 0;
    for (let index = 1; index < field.length; index++) value = value * 256 + (field[index] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString("utf8");
}

function paxPath(records: Buffer): string | undefined {
  // Records are "<length> <key>=<value>\n".
  for (const line of records.toString("utf8").split("\n")) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}
