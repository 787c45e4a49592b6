// Reading the project's Markdown the way a reader does: fenced code blocks under their section, and
// paragraphs (a table row is a paragraph of its own), so the documentation tests can check what a
// reader would copy or look up.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The repository root. */
export const repoRoot = join(import.meta.dirname, "..", "..");

/** The Markdown files a user reads, relative to the repository root. */
export const documentationFiles = [
  "README.md",
  "operator/README.md",
  "controllers/README.md",
  "serving/README.md",
  "pipelines/bootstrap/README.md",
  "charts/README.md",
  "charts/jude-operator/README.md",
  "charts/jude-operator/argocd/README.md",
  "plumbing/README.md",
  "store/LAYOUT.md",
  "examples/gitops/README.md",
  "examples/quickstart/README.md",
] as const;

/** A file's text. */
export function readDocument(file: string): string {
  return readFileSync(join(repoRoot, file), "utf8");
}

/** One fenced code block: its language, text, file and the nearest heading above it. */
export interface CodeBlock {
  file: string;
  heading: string;
  language: string;
  text: string;
}

/** The fenced code blocks of a file, in order. */
export function codeBlocks(file: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let heading = "";
  let open: CodeBlock | undefined;
  for (const line of readDocument(file).split("\n")) {
    if (open !== undefined) {
      if (/^\s*```\s*$/.test(line)) {
        blocks.push(open);
        open = undefined;
      } else open.text += `${line}\n`;
      continue;
    }
    const fence = /^\s*```(\S*)/.exec(line);
    if (fence !== null) open = { file, heading, language: fence[1]!, text: "" };
    else if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
  }
  return blocks;
}

/** The prose of a file outside code blocks, split into paragraphs and single table rows. */
export function paragraphs(file: string): string[] {
  const result: string[] = [];
  let current: string[] = [];
  let inCode = false;
  const flush = () => {
    if (current.length > 0) result.push(current.join("\n"));
    current = [];
  };
  for (const line of readDocument(file).split("\n")) {
    if (/^\s*```/.test(line)) {
      inCode = !inCode;
      flush();
    } else if (inCode) continue;
    else if (line.trim() === "" || /^\s*- /.test(line)) {
      flush();
      if (line.trim() !== "") current.push(line);
    } else if (line.startsWith("|")) {
      flush();
      result.push(line);
    } else current.push(line);
  }
  flush();
  return result;
}
