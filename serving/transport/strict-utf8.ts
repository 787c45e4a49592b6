/**
 * proto3 says a `string` field holds UTF-8, and protoc's C++, Java and Go parsers refuse a message
 * whose string is not. protobuf.js decodes leniently: each invalid byte becomes U+FFFD, so a Latin-1
 * "café" would be embedded as "caf\uFFFD" and answered as a success (the HTTP side refuses such a
 * body). It is lenient about the wire format too: a string whose length runs past the end of the
 * bytes (or of the message holding it) is cut short or runs into the next field, and a field sent
 * with another wire type than its type's (a string as a varint) is read as if it had the right one,
 * so a garbled request could be embedded as some other text. This walks the request's wire bytes
 * before it is decoded, using the message descriptors proto-loader already loaded, and names the
 * first string field that is not UTF-8 or the first fault in the wire format, as protoc's parsers
 * refuse it.
 */
import { isUtf8 } from "node:buffer";
import type { PackageDefinition } from "@grpc/proto-loader";

/** The parts of a field descriptor the walk needs (proto-loader's DescriptorProto shape). */
interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  typeName: string;
  label?: string;
}

/** How a known field is checked: its wire types, and a string's bytes or a message's fields. */
interface FieldRule {
  name: string;
  /** e.g. "a string", "a bool", "a message (EmbedInput)" */
  what: string;
  /** The wire type its type is sent as. */
  wireType: number;
  /** A repeated scalar number may also come packed (wire type 2). */
  packable: boolean;
  kind: "string" | "message" | "other";
  typeName?: string;
}

/** A message's fields by number. */
type MessageRules = Map<number, FieldRule>;

/** What is wrong with a request's bytes. */
export type WireFault = { kind: "utf8"; field: string } | { kind: "wire"; detail: string };

const WIRE_TYPE_NAMES = ["varint", "64-bit", "length-delimited", "start group", "end group", "32-bit"];

const wireTypeOf = (type: string): number => {
  switch (type) {
    case "TYPE_STRING":
    case "TYPE_BYTES":
    case "TYPE_MESSAGE":
      return 2;
    case "TYPE_DOUBLE":
    case "TYPE_FIXED64":
    case "TYPE_SFIXED64":
      return 1;
    case "TYPE_FLOAT":
    case "TYPE_FIXED32":
    case "TYPE_SFIXED32":
      return 5;
    case "TYPE_GROUP":
      return 3;
    default:
      return 0; // the varints: (s|u)int32/64, bool, enum
  }
};

/**
 * Compiles a checker for the message `typeName` (full name, e.g. `jude.embedding.v1.EmbedRequest`):
 * it returns the dotted path of the first string field that is not UTF-8 (e.g. `inputs.text`), or
 * what is wrong with the wire format (a length past the end, a field with the wrong wire type), or
 * undefined when the bytes are a well-formed message whose strings are UTF-8.
 */
export function wireChecker(
  definitions: PackageDefinition,
  typeName: string,
): (bytes: Uint8Array) => WireFault | undefined {
  const rules = new Map<string, MessageRules>();
  const rulesOf = (name: string): MessageRules => {
    const known = rules.get(name);
    if (known !== undefined) return known;
    const messageRules: MessageRules = new Map();
    rules.set(name, messageRules); // before the fields: a message may contain itself
    for (const field of fieldsOf(definitions, name)) {
      const wireType = wireTypeOf(field.type);
      const typeWord = field.type.replace(/^TYPE_/, "").toLowerCase();
      const resolved =
        field.type === "TYPE_MESSAGE" ? resolveType(definitions, name, field.typeName) : undefined;
      messageRules.set(field.number, {
        name: field.name,
        what:
          field.type === "TYPE_MESSAGE"
            ? `a message (${resolved?.slice(resolved.lastIndexOf(".") + 1) ?? field.typeName})`
            : `${/^[aeiou]/.test(typeWord) ? "an" : "a"} ${typeWord}`,
        wireType,
        packable: field.label === "LABEL_REPEATED" && wireType !== 2 && wireType !== 3,
        kind: field.type === "TYPE_STRING" ? "string" : resolved !== undefined ? "message" : "other",
        ...(resolved === undefined ? {} : { typeName: resolved }),
      });
    }
    return messageRules;
  };
  return (bytes) => {
    try {
      walk(bytes, 0, bytes.length, typeName, rulesOf, "", 0);
      return undefined;
    } catch (fault) {
      if (fault instanceof Fault) return fault.fault;
      throw fault;
    }
  };
}

/** The UTF-8 part of wireChecker: the path of the first string that is not UTF-8, else undefined. */
export function utf8Checker(
  definitions: PackageDefinition,
  typeName: string,
): (bytes: Uint8Array) => string | undefined {
  const check = wireChecker(definitions, typeName);
  return (bytes) => {
    const fault = check(bytes);
    return fault?.kind === "utf8" ? fault.field : undefined;
  };
}

class Fault extends Error {
  readonly fault: WireFault;
  constructor(fault: WireFault) {
    super(fault.kind === "utf8" ? fault.field : fault.detail);
    this.fault = fault;
  }
}

const wireFault = (detail: string): Fault => new Fault({ kind: "wire", detail });

const bytesWord = (count: number): string => `${count} byte${count === 1 ? "" : "s"}`;

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

/** The largest field number protobuf allows (2^29 - 1); Go's parser refuses a larger one. */
const MAX_FIELD_NUMBER = 536_870_911;

/** protoc's parsers (C++ CodedInputStream, Go, Java) refuse messages and groups nested deeper. */
const RECURSION_LIMIT = 100;

const tooDeep = (label: string): Fault =>
  wireFault(
    `${label} nests groups or messages more than ${RECURSION_LIMIT} deep (protobuf's recursion limit)`,
  );

/** Walks the fields of one message in bytes[start, end); throws a Fault at the first one wrong. */
function walk(
  bytes: Uint8Array,
  start: number,
  end: number,
  typeName: string,
  rulesOf: (name: string) => MessageRules,
  path: string,
  depth: number,
  group?: number,
): number {
  const rules = rulesOf(typeName);
  let at = start;
  while (at < end) {
    const tag = readVarint(bytes, at, end);
    if (tag === undefined) throw wireFault(`the bytes end inside a field's tag, at byte ${at}`);
    at = tag.next;
    const wireType = tag.value % 8;
    const number = Math.floor(tag.value / 8);
    const rule = rules.get(number);
    const fieldPath = rule === undefined ? undefined : path === "" ? rule.name : `${path}.${rule.name}`;
    const label = fieldPath === undefined ? `field ${number}` : `field ${fieldPath} (${number})`;
    if (number === 0) throw wireFault(`a field has number 0, which no field has`);
    // protobuf.js reads a tag as 32 bits: a larger number would be decoded as the field its low bits name.
    if (number > MAX_FIELD_NUMBER)
      throw wireFault(
        `a field has number ${number}, above the largest protobuf allows (${MAX_FIELD_NUMBER})`,
      );
    if (wireType > 5) throw wireFault(`${label} has wire type ${wireType}, which does not exist`);
    if (wireType === 4) {
      if (group === number) return at;
      throw wireFault(`${label} ends a group that was not started`);
    }
    if (rule !== undefined && wireType !== rule.wireType && !(rule.packable && wireType === 2)) {
      throw wireFault(
        `${label} has wire type ${wireType} (${WIRE_TYPE_NAMES[wireType]}); ${rule.what} is sent as ` +
          `wire type ${rule.wireType} (${WIRE_TYPE_NAMES[rule.wireType]})`,
      );
    }
    if (wireType === 0) {
      const value = readVarint(bytes, at, end);
      if (value === undefined) throw wireFault(`${label} ends inside its varint`);
      at = value.next;
    } else if (wireType === 1 || wireType === 5) {
      const size = wireType === 1 ? 8 : 4;
      if (at + size > end)
        throw wireFault(`${label} needs ${bytesWord(size)}, but only ${bytesWord(end - at)} follow`);
      at += size;
    } else if (wireType === 3) {
      if (depth >= RECURSION_LIMIT) throw tooDeep(label);
      at = walk(bytes, at, end, "", () => new Map(), "", depth + 1, number); // an unknown group: skipped whole
    } else {
      const length = readVarint(bytes, at, end);
      if (length === undefined) throw wireFault(`${label} ends inside its length`);
      const valueStart = length.next;
      if (valueStart + length.value > end) {
        const left = end - valueStart;
        throw wireFault(
          `${label} is ${bytesWord(length.value)} long, but only ${bytesWord(left)} ${left === 1 ? "follows" : "follow"}`,
        );
      }
      at = valueStart + length.value;
      if (rule === undefined || fieldPath === undefined) continue;
      if (rule.kind === "string") {
        if (!isUtf8(bytes.subarray(valueStart, at))) throw new Fault({ kind: "utf8", field: fieldPath });
      } else if (rule.kind === "message" && rule.typeName !== undefined) {
        if (depth >= RECURSION_LIMIT) throw tooDeep(label);
        walk(bytes, valueStart, at, rule.typeName, rulesOf, fieldPath, depth + 1);
      }
    }
  }
  if (group !== undefined) throw wireFault(`group ${group} is not ended`);
  return at;
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
