import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { extractTar, looksLikeTar } from "./tar.ts";

/** A minimal ustar writer: enough to build test archives without a tar binary. */
function tarEntry(name: string, content: string, type = "0"): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, "utf8");
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write(type, 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  header.fill(0x20, 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  return Buffer.concat([header, body]);
}

const archive = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);
// Deliver in awkward chunk sizes so headers and bodies straddle chunk boundaries.
async function* chunks(buffer: Buffer, size = 100): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < buffer.length; offset += size) yield buffer.subarray(offset, offset + size);
}

describe("extractTar", () => {
  it("extracts files and directories, streaming across chunk boundaries", async () => {
    const destination = await mkdtemp(join(tmpdir(), "jude-tar-"));
    const big = "x".repeat(1500);
    const written = await extractTar(
      chunks(
        archive(
          tarEntry("model/", "", "5"),
          tarEntry("model/a.txt", "hello"),
          tarEntry("./model/b.bin", big),
        ),
      ),
      destination,
    );
    expect(written).toEqual(["model/a.txt", "./model/b.bin"]);
    expect(await readFile(join(destination, "model/a.txt"), "utf8")).toBe("hello");
    expect(await readFile(join(destination, "model/b.bin"), "utf8")).toBe(big);
  });

  it("honours pax long names", async () => {
    const destination = await mkdtemp(join(tmpdir(), "jude-tar-"));
    const longName = `${"d".repeat(120)}/file.txt`;
    const record = `${longName.length + 11} path=${longName}\n`;
    await extractTar(
      chunks(archive(tarEntry("PaxHeader", record, "x"), tarEntry("short", "long-named"))),
      destination,
    );
    expect(await readFile(join(destination, longName), "utf8")).toBe("long-named");
  });

  it("refuses entries that would escape the destination, and links", async () => {
    const destination = await mkdtemp(join(tmpdir(), "jude-tar-"));
    await expect(extractTar(chunks(archive(tarEntry("../evil", "x"))), destination)).rejects.toMatchObject({
      code: "UNSAFE_ARCHIVE",
    });
    await expect(extractTar(chunks(archive(tarEntry("/etc/evil", "x"))), destination)).rejects.toMatchObject({
      code: "UNSAFE_ARCHIVE",
    });
    await expect(extractTar(chunks(archive(tarEntry("link", "", "2"))), destination)).rejects.toThrow(
      /only files and directories/,
    );
  });

  it("detects corrupt headers", async () => {
    const corrupt = archive(tarEntry("a.txt", "hello"));
    corrupt[0] = "b".charCodeAt(0);
    await expect(
      extractTar(chunks(corrupt), await mkdtemp(join(tmpdir(), "jude-tar-"))),
    ).rejects.toMatchObject({
      code: "INVALID_ARCHIVE",
    });
  });

  it("recognises tar archives by their magic", () => {
    expect(looksLikeTar(tarEntry("a", "b"))).toBe(true);
    expect(looksLikeTar(Buffer.alloc(600))).toBe(false);
  });
});
