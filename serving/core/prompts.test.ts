import { describe, expect, it } from "vitest";
import { applyPrompt, compilePrompt, MissingPromptFieldError } from "./prompts.ts";

describe("named prompts", () => {
  it("treats a template without placeholders as a prefix and exposes the text as {{text}}", () => {
    expect(applyPrompt("query: ", "what is kafka")).toBe("query: what is kafka");
    expect(applyPrompt("Resume of {{name}}: {{text}}", "ten years of Go", { name: "Ada" })).toBe(
      "Resume of Ada: ten years of Go",
    );
  });

  it("compiles once and refuses an input without a field its template needs", () => {
    const job = compilePrompt("job {{title}}: {{text}}");
    expect(job("desc", { title: "Nurse" })).toBe("job Nurse: desc");
    expect(() => job("desc")).toThrow(MissingPromptFieldError);
  });
});
