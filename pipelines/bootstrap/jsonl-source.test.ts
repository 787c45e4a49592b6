import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { openJsonl, splitLines, type SourceLine } from "./jsonl-source.ts";

async function lines(source: AsyncIterable<SourceLine[]>): Promise<[string, number][]> {
  const all: [string, number][] = [];
  for await (const chunk of source) for (const line of chunk) all.push([line.value.toString(), line.end]);
  return all;
}

describe("splitLines", () => {
  it("splits across chunk boundaries, skips blank lines and reports the byte after each line", async () => {
    const chunks = [Buffer.from('{"a":1}\n{"b"'), Buffer.from(':2}\r\n\n  \n{"c":"é"}')];
    expect(await lines(splitLines(chunks, 0, 0))).toEqual([
      ['{"a":1}', 8],
      ['{"b":2}\r', 17],
      ['{"c":"é"}', 31],
    ]);
  });

  it("counts from the start position and drops skipped bytes (a server that ignored Range)", async () => {
    const text = Buffer.from("one\ntwo\nthree\n");
    expect(await lines(splitLines([text.subarray(0, 5), text.subarray(5)], 0, 4))).toEqual([
      ["two", 8],
      ["three", 14],
    ]);
    expect(await lines(splitLines([text.subarray(8)], 8, 0))).toEqual([["three", 14]]);
  });

  it("lets go of a line longer than the cap, reporting its length and where the next line starts", async () => {
    const chunks = [Buffer.from("ok\n0123"), Buffer.from("456789"), Buffer.from("ab\nfine\n01234567890")];
    const got: [string, number, number | undefined][] = [];
    for await (const chunk of splitLines(chunks, 0, 0, 8))
      for (const line of chunk) got.push([line.value.toString(), line.end, line.tooLong]);
    expect(got).toEqual([
      ["ok", 3, undefined],
      ["", 16, 12], // "0123456789ab": over 8 bytes across three chunks
      ["fine", 21, undefined],
      ["", 32, 11], // the last line, without a newline
    ]);
    // A line of exactly the cap is kept.
    expect(await lines(splitLines([Buffer.from("01234567\n")], 0, 0, 8))).toEqual([["01234567", 9]]);
  });
});

describe("openJsonl over file://", () => {
  it("reads from a byte position and reports the size", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "jsonl-")), "rows.jsonl");
    writeFileSync(path, "first\nsecond\nthird");
    const uri = pathToFileURL(path).href;
    const whole = await openJsonl(uri, 0);
    expect(whole.totalBytes).toBe(18);
    expect(await lines(whole.lines)).toEqual([
      ["first", 6],
      ["second", 13],
      ["third", 18],
    ]);
    expect(await lines((await openJsonl(uri, 13)).lines)).toEqual([["third", 18]]);
    expect(await lines((await openJsonl(uri, 18)).lines)).toEqual([]);
  });

  it("refuses other schemes", async () => {
    await expect(openJsonl("s3://bucket/rows.jsonl", 0)).rejects.toThrow("unsupported URI");
  });
});

describe("splitLines on one huge line", () => {
  it("copies each byte of a line a bounded number of times, however many chunks it spans", async () => {
    // A 512 KiB line in 1 KiB chunks. Re-concatenating the partial line with every chunk copies
    // ~n²/2 bytes (128 MiB here, hours for a 50 MB line read in 64 KiB chunks); collecting the chunks
    // and joining them once copies the line once.
    const size = 512 * 1024;
    const chunkSize = 1024;
    const line = Buffer.alloc(size, 0x61);
    const chunks = Array.from({ length: size / chunkSize }, (_, index) =>
      line.subarray(index * chunkSize, (index + 1) * chunkSize),
    );
    chunks.push(Buffer.from("\nnext\n"));
    const concat = vi.spyOn(Buffer, "concat");
    try {
      const got = await lines(splitLines(chunks, 0, 0));
      expect(got.map(([value, end]) => [value.length, end])).toEqual([
        [size, size + 1],
        [4, size + 6],
      ]);
      const copied = concat.mock.calls.reduce(
        (sum, [list]) => sum + list.reduce((bytes, each) => bytes + each.length, 0),
        0,
      );
      expect(copied).toBeLessThanOrEqual(2 * size);
    } finally {
      concat.mockRestore();
    }
  });
});
