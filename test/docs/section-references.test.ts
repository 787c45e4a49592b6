// Where the documentation sends a reader inside itself: a Markdown link to a heading
// (`[Store layout](#store-layout-redis)`, `serving/README.md#benchmark`) and a section named in
// quotes ('see "Embedding server errors" below'). Sections are headings and the bold lead-ins of
// paragraphs and list items (`**Drift and resync**:`). A heading renamed, or a paragraph moved to the
// other side of the reference, sends the reader to nothing or the wrong way.
import { existsSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";
import { documentationFiles, readDocument, repoRoot } from "./markdown.ts";

/** A file's text with fenced code blocks blanked (line numbers kept) and inline code spans removed. */
function prose(file: string): string {
  let inCode = false;
  return readDocument(file)
    .split("\n")
    .map((line) => {
      if (/^\s*```/.test(line)) {
        inCode = !inCode;
        return "";
      }
      return inCode ? "" : line.replace(/`[^`\n]*`/g, (span) => span.replace(/[^\n]/g, " "));
    })
    .join("\n");
}

const lineOf = (text: string, index: number) => text.slice(0, index).split("\n").length;
const squash = (text: string) => text.replace(/`/g, "").replace(/\s+/g, " ").trim();

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

interface Section {
  name: string;
  line: number;
}

/** Headings and bold lead-ins of a file, with the line each starts on. */
function sections(file: string): { headings: Section[]; anchors: Set<string>; all: Section[] } {
  let inCode = false;
  const headings: Section[] = [];
  readDocument(file)
    .split("\n")
    .forEach((line, index) => {
      if (/^\s*```/.test(line)) inCode = !inCode;
      const heading = inCode ? null : /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) headings.push({ name: squash(heading[1]!), line: index + 1 });
    });
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { name } of headings) {
    const base = slug(name);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  const text = prose(file);
  const bold = [...text.matchAll(/\*\*([^*]+?)\*\*/g)].map((match) => ({
    name: squash(match[1]!).replace(/[.:]$/, ""),
    line: lineOf(text, match.index),
  }));
  // A heading is also named without its parenthesis: "Store layout" for "Store layout (Redis)".
  const short = headings.map(({ name, line }) => ({ name: name.replace(/\s*\(.*\)$/, ""), line }));
  return { headings, anchors, all: [...headings, ...short, ...bold] };
}

const byFile = new Map(documentationFiles.map((file) => [file, sections(file)] as const));

describe("references to sections in the documentation", () => {
  it("every Markdown link to a file or a heading has its target", () => {
    const broken: string[] = [];
    for (const file of documentationFiles) {
      const text = prose(file);
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#");
        const targetFile = path === "" ? file : normalize(join(dirname(file), path!));
        const where = `${file}:${lineOf(text, match.index)} ${target}`;
        if (!existsSync(join(repoRoot, targetFile))) broken.push(`${where}: no such file`);
        else if (anchor !== undefined && targetFile.endsWith(".md")) {
          const anchors = byFile.get(targetFile as (typeof documentationFiles)[number])?.anchors;
          if (anchors !== undefined && !anchors.has(anchor)) broken.push(`${where}: no such heading`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('every section named in quotes or bold ("see \\"X\\" below", "see **X**") exists, on the side the reference says', () => {
    const broken: string[] = [];
    let references = 0;
    for (const file of documentationFiles) {
      const text = prose(file);
      for (const match of text.matchAll(
        /\b(?:see|under|section|README,)\s+(?:"([^"]{3,80})"|\*\*([^*]{3,80})\*\*)(?:\s+(below|above))?|"([^"]{3,80})"\s+(below|above)\b/g,
      )) {
        const name = squash(match[1] ?? match[2] ?? match[4]!);
        const direction = match[3] ?? match[5];
        const line = lineOf(text, match.index);
        references++;
        // A bold reference is itself bold: it does not name its own line.
        const named = (section: Section) => section.name === name && section.line !== line;
        const here = byFile.get(file)!.all.filter(named);
        const anywhere = [...byFile.values()].some(({ all }) => all.some(named));
        if (!anywhere) broken.push(`${file}:${line} "${name}": no heading or bold lead-in of that name`);
        else if (direction === "below" && here.length > 0 && !here.some((section) => section.line > line))
          broken.push(`${file}:${line} "${name}" below: it is above (line ${here[0]!.line})`);
        else if (direction === "above" && here.length > 0 && !here.some((section) => section.line < line))
          broken.push(`${file}:${line} "${name}" above: it is below (line ${here[0]!.line})`);
      }
    }
    expect(references).toBeGreaterThan(5);
    expect(broken).toEqual([]);
  });
});
