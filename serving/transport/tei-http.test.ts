import { describe, expect, it } from "vitest";
import type { CallContext } from "./call-context.ts";
import { handleTeiEmbed } from "./tei-http.ts";

// The documents are refused while they are parsed, before the server is consulted.
const context = {} as CallContext;
const signal = new AbortController().signal;

describe("POST /embed without inputs", () => {
  it.each([{}, { inputs: null }])("says inputs is required: %j", async (document) => {
    await expect(handleTeiEmbed(context, document, signal)).rejects.toMatchObject({
      code: "MALFORMED_REQUEST",
      message: "malformed request: inputs: inputs is required: a string or a list of strings",
    });
  });

  it("names what inputs must be when it is something else", async () => {
    await expect(handleTeiEmbed(context, { inputs: { text: "a" } }, signal)).rejects.toMatchObject({
      message: "malformed request: inputs: inputs must be a string or a list of strings",
    });
  });
});
