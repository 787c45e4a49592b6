import { describe, expect, it } from "vitest";
import { openSource } from "./sources.ts";

describe("a file:// source", () => {
  it("names a missing file once: the path, then what the system said without its path again", async () => {
    await expect(openSource("file:///nonexistent/jude/model.onnx", 0, {})).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "cannot read /nonexistent/jude/model.onnx: ENOENT: no such file or directory",
    });
  });
});
