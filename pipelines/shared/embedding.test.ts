import { describe, expect, it } from "vitest";
import {
  BatchedEmbedder,
  embedIsolatingRefusals,
  MAX_CALL_TEXT_BYTES,
  textForTransport,
} from "./embedding.ts";

const vectorOf = (text: string): Float32Array => Float32Array.of(text.length);

describe("BatchedEmbedder", () => {
  it("splits into calls of at most maxBatchSize, keeps order, and bounds concurrency", async () => {
    let running = 0;
    let peak = 0;
    const sizes: number[] = [];
    const embedder = new BatchedEmbedder(
      async (texts) => {
        running++;
        peak = Math.max(peak, running);
        sizes.push(texts.length);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        return texts.map(vectorOf);
      },
      { maxBatchSize: 3, maxInflight: 2, isRetryable: () => false },
    );
    const texts = Array.from({ length: 10 }, (_, index) => "x".repeat(index + 1));
    const vectors = await embedder.embed(texts);
    expect(vectors.map((vector) => vector[0])).toEqual(texts.map((text) => text.length));
    expect(sizes.sort()).toEqual([1, 3, 3, 3]);
    expect(peak).toBe(2);
  });

  it("retries retryable failures and throws the others", async () => {
    let calls = 0;
    const flaky = new BatchedEmbedder(
      async (texts) => {
        calls++;
        if (calls < 3) throw Object.assign(new Error("unavailable"), { retryable: true });
        return texts.map(vectorOf);
      },
      {
        maxBatchSize: 8,
        maxInflight: 1,
        isRetryable: (error) => (error as { retryable?: boolean }).retryable === true,
      },
    );
    await expect(flaky.embed(["a"])).resolves.toHaveLength(1);
    expect(calls).toBe(3);

    const broken = new BatchedEmbedder(
      async () => {
        throw new Error("invalid argument");
      },
      { maxBatchSize: 8, maxInflight: 1, isRetryable: () => false },
    );
    await expect(broken.embed(["a"])).rejects.toThrow("invalid argument");
  });

  it("also splits by size, so large texts never make a call above the server's message limit", async () => {
    const bytes: number[] = [];
    const embedder = new BatchedEmbedder(
      async (texts) => {
        bytes.push(texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0));
        return texts.map(vectorOf);
      },
      { maxBatchSize: 64, maxInflight: 4, isRetryable: () => false },
    );
    // 20 texts of 300 KB (multi-byte characters: 100,000 x 3 bytes) and one above the budget on its own.
    const large = Array.from({ length: 20 }, (_, index) => `${index}`.padEnd(100_000, "€"));
    const texts = [...large.slice(0, 10), "€".repeat(MAX_CALL_TEXT_BYTES), ...large.slice(10), "short"];
    const vectors = await embedder.embed(texts);
    const sent = texts.map(textForTransport);
    expect(vectors.map((vector) => vector[0])).toEqual(sent.map((text) => text.length));
    expect(bytes.length).toBeGreaterThan(1);
    expect(Math.max(...bytes)).toBeLessThanOrEqual(MAX_CALL_TEXT_BYTES);
    expect(bytes.reduce((sum, size) => sum + size, 0)).toBe(
      sent.reduce((sum, text) => sum + Buffer.byteLength(text), 0),
    );
  });

  it("sends a text above the call budget as its first MAX_CALL_TEXT_BYTES, cut between characters", async () => {
    const sent: string[] = [];
    const embedder = new BatchedEmbedder(
      async (texts) => {
        sent.push(...texts);
        return texts.map(vectorOf);
      },
      { maxBatchSize: 8, maxInflight: 1, isRetryable: () => false },
    );
    // 5 MiB, above the server's 4 MiB message limit; "€" is 3 bytes, so the cut falls inside one.
    const huge = "€".repeat(Math.ceil((5 * MAX_CALL_TEXT_BYTES) / 3));
    await embedder.embed(["short", huge]);
    expect(sent[0]).toBe("short");
    const cut = sent[1]!;
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_CALL_TEXT_BYTES);
    expect(Buffer.byteLength(cut)).toBeGreaterThan(MAX_CALL_TEXT_BYTES - 3);
    expect(huge.startsWith(cut)).toBe(true); // a prefix, no replacement character at the cut
    const fits = "a".repeat(MAX_CALL_TEXT_BYTES);
    expect(textForTransport(fits)).toBe(fits);
  });
});

describe("embedIsolatingRefusals with server failures", () => {
  it("blames a lone text only when a probe answers after its last failure too; a server that stops answering meanwhile makes it wait", async () => {
    const serverFailure = Object.assign(new Error("Deadline exceeded"), { serverFailure: true });
    // The probe answers, answers, then fails once (the server turned slow), then answers again.
    const probeAnswers = [true, true, false, true, true];
    let probes = 0;
    let waits = 0;
    const found = await embedIsolatingRefusals(
      async (texts) => {
        if (texts.includes("hangs")) throw serverFailure;
        return texts.map(vectorOf);
      },
      ["fine", "hangs"],
      {
        isRefused: () => false,
        serverFailures: {
          isFailure: (error) => (error as { serverFailure?: boolean }).serverFailure === true,
          probe: async () => {
            if (!(probeAnswers[probes++] ?? true)) throw serverFailure;
          },
          onServerFailing: () => void waits++,
          policy: { initialDelayMs: 1, maxDelayMs: 1 },
        },
      },
    );
    expect([...found.vectors.keys()]).toEqual(["fine"]);
    expect([...found.failed.keys()]).toEqual(["hangs"]);
    // Probe 3 failed after "hangs" had failed alone twice: not blamed then; it waited once and was
    // blamed after probes 4 and 5 both answered around its next failures.
    expect(probes).toBe(5);
    expect(waits).toBe(1);
  });
});
