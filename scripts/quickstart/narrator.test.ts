import { PassThrough } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { createNarrator } from "./narrator.ts";

/** A terminal's input and output: readline reads key presses (Ctrl-C is the byte 0x03, not a signal). */
function terminal(): { input: PassThrough; out: NodeJS.WriteStream; written: () => string } {
  const input = new PassThrough();
  const out = new PassThrough() as unknown as NodeJS.WriteStream;
  let text = "";
  (out as unknown as PassThrough).on("data", (chunk) => (text += String(chunk)));
  return { input, out, written: () => text };
}

describe("narrator pause", () => {
  it("continues on Enter", async () => {
    const { input, out, written } = terminal();
    const narrator = createNarrator({ interactive: true, out, input, terminal: true });
    const paused = narrator.pause("next: the promotion");
    setTimeout(() => input.write("\r"), 10);
    await paused;
    expect(written()).toContain("next: the promotion — press Enter to continue");
  });

  it("turns Ctrl-C at the prompt into the interrupt (stop everything), not a failed run", async () => {
    const { input, out } = terminal();
    const interrupt = vi.fn();
    const narrator = createNarrator({ interactive: true, out, input, terminal: true, interrupt });
    let settled: string | undefined;
    narrator.pause("next: the promotion").then(
      () => (settled = "resolved"),
      (error: Error) => (settled = `rejected: ${error.message}`),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    input.write("\x03");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(interrupt).toHaveBeenCalledOnce();
    // The story waits while the interrupt handler stops everything; it neither goes on nor fails.
    expect(settled).toBeUndefined();
  });
});
