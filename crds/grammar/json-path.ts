/**
 * The JSON path grammar, in one place: the pattern the API server checks (NearlinePipeline decode and
 * extract paths, through crds/patterns.ts) and the compiler the pipeline workers run are built from the
 * same segment definitions, so a path admitted by one is exactly a path the other accepts.
 * `$` followed by `.name`, `[index]` or `[*]` segments (`$.title`, `$.company.name`,
 * `$.skills[*].name`, `$.positions[0].title`). Paths are compiled once per pipeline, evaluated per event.
 */

// The three segment forms, as RE2/JavaScript-portable sources (see crds/patterns.ts on the dialect).
const nameSegment = "\\.[A-Za-z_][A-Za-z0-9_-]*";
const indexSegment = "\\[[0-9]{1,6}\\]";
const allSegment = "\\[\\*\\]";

/** A whole path, anchored: what the CRD's OpenAPI `pattern` and the worker config schemas check. */
export const jsonPathPattern = new RegExp(`^\\$(${nameSegment}|${indexSegment}|${allSegment})+$`);

type Segment = { kind: "name"; name: string } | { kind: "index"; index: number } | { kind: "all" };

/** A compiled path: returns every value it reaches (empty when nothing matches). */
export type CompiledJsonPath = (document: unknown) => unknown[];

// One segment at a time (sticky), each form in its own group so the compiler knows which matched.
const segmentPattern = new RegExp(`(${nameSegment})|(${indexSegment})|(${allSegment})`, "y");

/** Compiles a path; throws a clear error naming the path and the position of the first bad character. */
export function compileJsonPath(path: string): CompiledJsonPath {
  if (!path.startsWith("$")) throw new Error(`JSON path ${JSON.stringify(path)} must start with $`);
  const segments: Segment[] = [];
  segmentPattern.lastIndex = 1;
  while (segmentPattern.lastIndex < path.length) {
    const at = segmentPattern.lastIndex;
    const match = segmentPattern.exec(path);
    if (match === null)
      throw new Error(`JSON path ${JSON.stringify(path)} is not supported at character ${at}`);
    if (match[1] !== undefined) segments.push({ kind: "name", name: match[1].slice(1) });
    else if (match[2] !== undefined) segments.push({ kind: "index", index: Number(match[2].slice(1, -1)) });
    else segments.push({ kind: "all" });
  }
  return (document) => {
    let current: unknown[] = [document];
    for (const segment of segments) {
      const next: unknown[] = [];
      for (const value of current) step(value, segment, next);
      current = next;
      if (current.length === 0) break;
    }
    return current;
  };
}

function step(value: unknown, segment: Segment, out: unknown[]): void {
  if (segment.kind === "name") {
    if (
      value !== null &&
      typeof value === "object" &&
      !Array.isArray(value) &&
      Object.hasOwn(value, segment.name)
    ) {
      out.push((value as Record<string, unknown>)[segment.name]);
    }
  } else if (Array.isArray(value)) {
    // Not push(...value): spread into one call, an array of ~150,000 values overflows the stack.
    if (segment.kind === "all") for (const item of value) out.push(item);
    else if (segment.index < value.length) out.push(value[segment.index]);
  }
}

/**
 * Turns what a path reached into the text of one field: strings as they are (or through `normalize`,
 * which then also skips those it makes empty, so `["Go", "", "SQL"]` is "Go, SQL", not "Go, , SQL"),
 * numbers and booleans printed, arrays (and multiple matches) joined with ", ", nulls and objects
 * skipped. Undefined when nothing usable was found, so the prompt renders the field as empty.
 */
export function fieldText(
  values: readonly unknown[],
  normalize?: (text: string) => string,
): string | undefined {
  const parts: string[] = [];
  // Depth first, in document order, on a stack of its own: a value nested thousands of arrays deep
  // (a few hundred KB any producer can write) overflowed the call stack of a recursive walk.
  for (const value of flattenArrays(values)) {
    if (typeof value === "string") {
      const text = normalize ? normalize(value) : value;
      if (normalize === undefined || text !== "") parts.push(text);
    } else if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
      parts.push(String(value));
  }
  return parts.length > 0 ? parts.join(", ") : undefined;
}

/**
 * The values that are not arrays, in document order, arrays at any depth opened in place
 * (`[1, [2, [3]], 4]` gives 1, 2, 3, 4), without recursion: nesting depth costs no call stack.
 */
export function* flattenArrays(values: readonly unknown[]): Generator<unknown> {
  const stack: { items: readonly unknown[]; next: number }[] = [{ items: values, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const value = top.items[top.next++];
    if (Array.isArray(value)) stack.push({ items: value, next: 0 });
    else yield value;
  }
}
