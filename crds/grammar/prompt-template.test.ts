import { describe, expect, it } from "vitest";
import { MissingPromptFieldError, renderPromptTemplate, templateFields } from "./prompt-template.ts";
import { fieldNamePattern, promptTemplatePattern } from "./prompt-template.ts";

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

  it("admits exactly the templates whose placeholders it renders", () => {
    expect(promptTemplatePattern.test("Job: {{title}} at {{ company }}")).toBe(true);
    expect(promptTemplatePattern.test("Title: {{title}")).toBe(false);
    expect(promptTemplatePattern.test("{title}")).toBe(false);
    // Field names follow the extract grammar: no dots or dashes, so `{{a.b}}` is refused, not left raw.
    expect(promptTemplatePattern.test("{{company.name}}")).toBe(false);
    expect(templateFields("{{company.name}}")).toEqual([]);
    expect(fieldNamePattern.test("company_name")).toBe(true);
    expect(fieldNamePattern.test("company-name")).toBe(false);
  });
});
