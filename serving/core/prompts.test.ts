import { describe, expect, it } from "vitest";
import { applyPrompt, MissingPromptFieldError, renderPromptTemplate, templateFields } from "./prompts.ts";

describe("prompt templates", () => {
  it("lists the fields a template uses, once each, in order", () => {
    expect(templateFields("{{title}} at {{ company }}: {{title}}")).toEqual(["title", "company"]);
  });

  it("renders placeholders, tolerating spaces inside the braces", () => {
    expect(
      renderPromptTemplate("Job: {{title}} at {{ company }}", { title: "Engineer", company: "Acme" }),
    ).toBe("Job: Engineer at Acme");
  });

  it("throws MissingPromptFieldError naming the field, or renders it empty when asked", () => {
    expect(() => renderPromptTemplate("{{title}} {{company}}", { title: "x" })).toThrow(
      MissingPromptFieldError,
    );
    expect(() => renderPromptTemplate("{{title}} {{company}}", { title: "x" })).toThrow(/"company"/);
    expect(renderPromptTemplate("{{title}}|{{company}}", { title: "x" }, { missing: "empty" })).toBe("x|");
  });

  it("does not read inherited properties as fields", () => {
    expect(() => renderPromptTemplate("{{constructor}}", {})).toThrow(MissingPromptFieldError);
  });

  it("treats a template without placeholders as a prefix and exposes the text as {{text}}", () => {
    expect(applyPrompt("query: ", "what is kafka")).toBe("query: what is kafka");
    expect(applyPrompt("Resume of {{name}}: {{text}}", "ten years of Go", { name: "Ada" })).toBe(
      "Resume of Ada: ten years of Go",
    );
  });
});
