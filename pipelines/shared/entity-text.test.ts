import { describe, expect, it } from "vitest";
import { contentHash, createEntityTextRenderer, normalizeText, templateHash } from "./entity-text.ts";

describe("normalizeText", () => {
  it("collapses whitespace of every kind and applies NFC", () => {
    expect(normalizeText("  Senior\t\tEngineer\n\n at\u00a0Acme\u200b ")).toBe("Senior Engineer at Acme");
    expect(normalizeText("cafe\u0301")).toBe("café");
  });

  it("drops invisible characters instead of turning them into a space that splits a word", () => {
    // The model's tokenizer drops them too: "Java\u200bScript" is "JavaScript" to it, not "Java Script".
    expect(normalizeText("Java\u200bScript de\u00advel\u2060oper\ufeff")).toBe("JavaScript developer");
    expect(normalizeText("Senior \u200b Engineer")).toBe("Senior Engineer");
  });
});

describe("createEntityTextRenderer", () => {
  const render = createEntityTextRenderer({
    extract: { title: "$.title", company: "$.company.name", skills: "$.skills[*]" },
    template: "Job: {{title}} at {{company}}. Skills: {{skills}}",
    modelVersion: "v1",
  });

  it("renders the template with extracted fields", () => {
    const { text } = render({ title: "Nurse", company: { name: "Umbrella" }, skills: ["ICU", "triage"] });
    expect(text).toBe("Job: Nurse at Umbrella. Skills: ICU, triage");
  });

  it("gives the same hash for whitespace-only changes and a different one for real changes", () => {
    const a = render({ title: "Nurse", company: { name: "Umbrella" }, skills: ["ICU"] });
    const b = render({ title: "  Nurse ", company: { name: "Umbrella\n" }, skills: ["ICU"], unrelated: 1 });
    const c = render({ title: "Head Nurse", company: { name: "Umbrella" }, skills: ["ICU"] });
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
  });

  it("ignores blank values in a list, as it ignores nulls, and invisible characters in a value", () => {
    const a = render({ title: "JavaScript Developer", company: { name: "Acme" }, skills: ["ICU", "triage"] });
    const b = render({
      title: "Java\u200bScript Developer",
      company: { name: "Acme" },
      skills: ["ICU", "", " \u200b ", null, "triage"],
    });
    expect(b.text).toBe("Job: JavaScript Developer at Acme. Skills: ICU, triage");
    expect(b.hash).toBe(a.hash);
  });

  it("renders a field nested thousands of arrays deep, and finds a placeholder there", () => {
    const nested = (inner: string) =>
      JSON.parse(`${"[".repeat(100_000)}${JSON.stringify(inner)}${"]".repeat(100_000)}`) as unknown;
    const rendered = render({ title: nested("Diver"), company: { name: "Acme" }, skills: [] });
    expect(rendered.text).toBe("Job: Diver at Acme. Skills:");
    expect(rendered.unavailable).toEqual([]);
    const placeholder = render({ title: "Diver", skills: nested("__debezium_unavailable_value") });
    expect(placeholder.unavailable).toEqual(["skills"]);
  });

  it("renders missing fields as empty rather than failing", () => {
    expect(render({ title: "Nurse" }).text).toBe("Job: Nurse at . Skills:");
  });

  it("ties the hash to the template and the model version", () => {
    const text = "Job: Nurse";
    expect(contentHash(text, "t1", "v1")).not.toBe(contentHash(text, "t2", "v1"));
    expect(contentHash(text, "t1", "v1")).not.toBe(contentHash(text, "t1", "v2"));
    expect(contentHash(text, "t1", "v1")).toMatch(/^[a-f0-9]{64}$/);
    expect(templateHash("t1")).toMatch(/^[a-f0-9]{16}$/);
  });

  it("names the fields that hold Debezium's placeholder for an unchanged PostgreSQL TOAST value", () => {
    // REPLICA IDENTITY DEFAULT: an update that leaves a large text or array column unchanged carries
    // the placeholder instead of the value (a text[] column: the placeholder as its one element).
    const placeholder = "__debezium_unavailable_value";
    expect(
      render({ title: placeholder, company: { name: "Umbrella" }, skills: [placeholder] }).unavailable,
    ).toEqual(["title", "skills"]);
    expect(render({ title: "Nurse", company: { name: "Umbrella" }, skills: ["ICU"] }).unavailable).toEqual(
      [],
    );
    // Only the whole value is the placeholder; a text that mentions it is text.
    expect(render({ title: `about ${placeholder}` }).unavailable).toEqual([]);
  });
});
