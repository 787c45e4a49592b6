/**
 * proto3 says a `string` field holds UTF-8, and protoc's C++, Java and Go parsers refuse a message
 * whose string is not. protobuf.js decodes leniently: each invalid byte becomes U+FFFD, so a Latin-1
 * "café" would be embedded as "caf\uFFFD" and answered as a success (the HTTP side refuses such a
 * body). This walks the request's wire bytes before it is decoded and names the first string field
 * that is not UTF-8, using the message descriptors proto-loader already loaded.
 */
import { isUtf8 } from "node:buffer";
import type { PackageDefinition } from "@grpc/proto-loader";

/** The parts of a field descriptor the walk needs (proto-loader's DescriptorProto shape). */
interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  typeName: string;
}

/** What to do with a length-delimited field: check it as UTF-8, or walk it as a message. */
type FieldRule = { name: string; kind: "string" } | { name: string; kind: "message"; typeName: string };

/** A message's length-delimited fields that matter, by field number. */
type MessageRules = Map<number, FieldRule>;

/**
 * Compiles a checker for the message `typeName` (full name, e.g. `jude.embedding.v1.EmbedRequest`):
 * it returns the dotted path of the first string field that is not UTF-8 (e.g. `inputs.text`), or
 * undefined when every string is UTF-8 or the bytes are not a well-formed message (the decoder
 * reports that itself).
 */
export function utf8Checker(
  definitions: PackageDefinition,
  typeName: string,
): (bytes: Uint8Array) => string | undefined {
  const rules = new Map<string, MessageRules>();
  const rulesOf = (name: string): MessageRules => {
    const known = rules.get(name);
    if (known !== undefined) return known;
    const messageRules: MessageRules = new Map();
    rules.set(name, messageRules); // before the fields: a message may contain itself
    for (const field of fieldsOf(definitions, name)) {
      if (field.type === "TYPE_STRING") messageRules.set(field.number, { name: field.name, kind: "string" });
      else if (field.type === "TYPE_MESSAGE") {
        const resolved = resolveType(definitions, name, field.typeName);
        if (resolved !== undefined && containsStrings(resolved))
          messageRules.set(field.number, { name: field.name, kind: "message", typeName: resolved });
      }
    }
    return messageRules;
  };
  const containsStrings = (name: string, seen = new Set<string>()): boolean => {
    if (seen.has(name)) return false;
    seen.add(name);
    return fieldsOf(definitions, name).some(
      (field) =>
        field.type === "TYPE_STRING" ||
        (field.type === "TYPE_MESSAGE" &&
          containsStrings(resolveType(definitions, name, field.typeName) ?? "", seen)),
    );
  };
  if (!containsStrings(typeName)) return () => undefined;
  return (bytes) => firstInvalid(bytes, 0, bytes.length, typeName, rulesOf, "");
}

/** A message descriptor (proto-loader's DescriptorProto shape): its fields and nested messages. */
interface MessageDescriptor {
  name?: string;
  field?: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
}

/**
 * The descriptor of a message by full name: a top-level entry of the package definition, or a type
 * nested in one (map entries such as `EmbedInput.FieldsEntry` are only there).
 */
function descriptorOf(definitions: PackageDefinition, name: string): MessageDescriptor | undefined {
  const entry = definitions[name] as { type?: MessageDescriptor } | undefined;
  if (entry?.type !== undefined) return entry.type;
  const dot = name.lastIndexOf(".");
  if (dot < 0) return undefined;
  const parent = descriptorOf(definitions, name.slice(0, dot));
  return parent?.nestedType?.find((nested) => nested.name === name.slice(dot + 1));
}

function fieldsOf(definitions: PackageDefinition, name: string): FieldDescriptor[] {
  return descriptorOf(definitions, name)?.field ?? [];
}

/** protobuf's scope rule: `T` used in `a.b.M` is `a.b.M.T`, `a.b.T`, `a.T` or `T`, first found. */
function resolveType(definitions: PackageDefinition, scope: string, typeName: string): string | undefined {
  if (typeName.startsWith("."))
    return descriptorOf(definitions, typeName.slice(1)) !== undefined ? typeName.slice(1) : undefined;
  const parts = scope.split(".");
  for (let length = parts.length; length >= 0; length--) {
    const candidate = [...parts.slice(0, length), typeName].join(".");
    if (descriptorOf(definitions, candidate) !== undefined) return candidate;
  }
  return undefined;
}

function firstInvalid(
  bytes: Uint8Array,
  start: number,
  end: number,
  typeName: string,
  rulesOf: (name: string) => MessageRules,
  path: string,
): string | undefined {
  const rules = rulesOf(typeName);
  let at = start;
  while (at < end) {
    const tag = readVarint(bytes, at, end);
    if (tag === undefined) return undefined;
    at = tag.next;
    const wireType = tag.value % 8;
    const number = Math.floor(tag.value / 8);
    if (wireType === 0) {
      const value = readVarint(bytes, at, end);
      if (value === undefined) return undefined;
      at = value.next;
    } else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else if (wireType === 2) {
      const length = readVarint(bytes, at, end);
      if (length === undefined || length.next + length.value > end) return undefined;
      const valueStart = length.next;
      at = valueStart + length.value;
      const rule = rules.get(number);
      if (rule === undefined) continue;
      const fieldPath = path === "" ? rule.name : `${path}.${rule.name}`;
      if (rule.kind === "string") {
        if (!isUtf8(bytes.subarray(valueStart, at))) return fieldPath;
      } else {
        const inner = firstInvalid(bytes, valueStart, at, rule.typeName, rulesOf, fieldPath);
        if (inner !== undefined) return inner;
      }
    } else return undefined; // groups (3, 4) are not used by these protos; the decoder decides
  }
  return undefined;
}

function readVarint(
  bytes: Uint8Array,
  start: number,
  end: number,
): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let at = start; at < end && at < start + 10; at++) {
    const byte = bytes[at] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: at + 1 };
    scale *= 128;
  }
  return undefined;
}
