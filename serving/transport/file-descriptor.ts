/**
 * Just enough of the protobuf wire format to read and mend the serialized FileDescriptorProtos that
 * proto-loader (protobufjs) makes from the .proto files, for server reflection.
 */

/** One field as it travels: its number, wire type and raw value bytes (a payload for wire type 2). */
interface WireField {
  number: number;
  wireType: number;
  value: Buffer;
}

// Field numbers in google/protobuf/descriptor.proto.
const FILE = { name: 1, package: 2, dependency: 3, messageType: 4, syntax: 12 } as const;
const MESSAGE = { name: 1, field: 2, nestedType: 3, options: 7, oneofDecl: 8 } as const;
const FIELD = { name: 1, label: 4, typeName: 6, oneofIndex: 9, proto3Optional: 17 } as const;
const ONEOF = { name: 1 } as const;
const MESSAGE_OPTIONS_MAP_ENTRY = 7;
const LABEL_REPEATED = 3;

function parseFields(bytes: Buffer): WireField[] {
  const fields: WireField[] = [];
  let offset = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (offset >= bytes.length) throw new Error("truncated protobuf message");
      const byte = bytes[offset++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (offset < bytes.length) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    const start = offset;
    if (wireType === 0) varint();
    else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else if (wireType === 2) {
      const length = varint();
      if (offset + length > bytes.length) throw new Error("truncated protobuf message");
      fields.push({ number, wireType, value: bytes.subarray(offset, offset + length) });
      offset += length;
      continue;
    } else throw new Error(`unsupported wire type ${wireType} in a protobuf message`);
    if (offset > bytes.length) throw new Error("truncated protobuf message");
    fields.push({ number, wireType, value: bytes.subarray(start, offset) });
  }
  return fields;
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function encodeFields(fields: readonly WireField[]): Buffer {
  return Buffer.concat(
    fields.flatMap((field) => [
      encodeVarint(field.number * 8 + field.wireType),
      ...(field.wireType === 2 ? [encodeVarint(field.value.length)] : []),
      field.value,
    ]),
  );
}

/** The number a varint field holds (its value bytes as parseFields keeps them). */
function varintValue(value: Buffer): number {
  let result = 0;
  for (let index = 0; index < value.length; index++) result += (value[index]! & 0x7f) * 2 ** (7 * index);
  return result;
}

const text = (fields: readonly WireField[], number: number): string | undefined =>
  fields.find((field) => field.number === number && field.wireType === 2)?.value.toString("utf8");

const withText = (fields: readonly WireField[], number: number, value: string): WireField[] =>
  fields.map((field) =>
    field.number === number && field.wireType === 2 ? { ...field, value: Buffer.from(value, "utf8") } : field,
  );

/** `name` (1), `package` (2) and `dependency` (3) of a serialized FileDescriptorProto. */
export function readFileHeader(bytes: Buffer): { name: string; package: string; dependencies: string[] } {
  const fields = parseFields(bytes);
  return {
    name: text(fields, FILE.name) ?? "",
    package: text(fields, FILE.package) ?? "",
    dependencies: fields
      .filter((field) => field.number === FILE.dependency && field.wireType === 2)
      .map((field) => field.value.toString("utf8")),
  };
}

/** protoc's name of the entry type of map field `fieldName` ("prompt_fields" -> "PromptFieldsEntry"). */
export function mapEntryName(fieldName: string): string {
  return `${fieldName.replace(/(?:^|_)(.)/g, (_match, letter: string) => letter.toUpperCase())}Entry`;
}

/**
 * The FileDescriptorProto as protoc would describe the same .proto, where proto-loader (protobufjs)
 * describes it otherwise in ways strict readers and code generators notice:
 * - every map entry type is named as protoc names it: protobufjs names the entry of
 *   `map<...> fields` "Fields", not "FieldsEntry", and strict readers (Go's protodesc, so grpcurl;
 *   Postman) refuse the file: "is an invalid map: incorrect implicit map entry name";
 * - a proto3 `optional` field is marked `proto3_optional`, its one-field oneof `_name` synthetic:
 *   protobufjs's descriptor writer sets it as `proto3_optional`, a property its encoder does not know
 *   (`proto3Optional`), so it is lost, and grpcurl then describes `optional bool normalize = 3` as
 *   `oneof _normalize { bool normalize = 3; }` (code generated from it gets a oneof, not an optional).
 */
export function asProtocDescribes(file: Buffer): Buffer {
  const fields = parseFields(file);
  const proto3 = text(fields, FILE.syntax) === "proto3";
  return encodeFields(
    fields.map((field) =>
      field.number === FILE.messageType && field.wireType === 2
        ? { ...field, value: mendMessage(field.value, proto3) }
        : field,
    ),
  );
}

function mendMessage(message: Buffer, proto3: boolean): Buffer {
  let fields = parseFields(message).map((field) =>
    field.number === MESSAGE.nestedType && field.wireType === 2
      ? { ...field, value: mendMessage(field.value, proto3) }
      : field,
  );
  if (proto3) fields = withProto3Optional(fields);
  const mapEntries = new Set(
    fields
      .filter((field) => field.number === MESSAGE.nestedType && field.wireType === 2)
      .map((field) => parseFields(field.value))
      .filter((nested) => isMapEntry(nested))
      .map((nested) => text(nested, MESSAGE.name) ?? ""),
  );
  const renames = new Map<string, string>();
  fields = fields.map((field) => {
    if (field.number !== MESSAGE.field || field.wireType !== 2) return field;
    const descriptor = parseFields(field.value);
    const typeName = text(descriptor, FIELD.typeName);
    const label = descriptor.find((part) => part.number === FIELD.label)?.value[0];
    const entry = typeName?.slice(typeName.lastIndexOf(".") + 1);
    if (typeName === undefined || entry === undefined || label !== LABEL_REPEATED || !mapEntries.has(entry))
      return field;
    const wanted = mapEntryName(text(descriptor, FIELD.name) ?? "");
    if (wanted === entry) return field;
    renames.set(entry, wanted);
    const renamed = `${typeName.slice(0, typeName.length - entry.length)}${wanted}`;
    return { ...field, value: encodeFields(withText(descriptor, FIELD.typeName, renamed)) };
  });
  return encodeFields(
    fields.map((field) => {
      if (field.number !== MESSAGE.nestedType || field.wireType !== 2) return field;
      const nested = parseFields(field.value);
      const wanted = renames.get(text(nested, MESSAGE.name) ?? "");
      return wanted === undefined
        ? field
        : { ...field, value: encodeFields(withText(nested, MESSAGE.name, wanted)) };
    }),
  );
}

function isMapEntry(message: readonly WireField[]): boolean {
  return message.some(
    (field) =>
      field.number === MESSAGE.options &&
      field.wireType === 2 &&
      parseFields(field.value).some(
        (option) =>
          option.number === MESSAGE_OPTIONS_MAP_ENTRY && option.wireType === 0 && option.value[0] === 1,
      ),
  );
}

const PROTO3_OPTIONAL: WireField = { number: FIELD.proto3Optional, wireType: 0, value: Buffer.from([1]) };

/**
 * The message's fields with `proto3_optional` set on each field protobufjs made of a proto3
 * `optional`: the only field of a oneof named `_<field>` (protoc's name for the synthetic oneof),
 * when that oneof comes after every real one (as protoc orders them, and strict readers require).
 */
function withProto3Optional(fields: WireField[]): WireField[] {
  const oneofNames = fields
    .filter((field) => field.number === MESSAGE.oneofDecl && field.wireType === 2)
    .map((field) => text(parseFields(field.value), ONEOF.name) ?? "");
  if (oneofNames.length === 0) return fields;
  const members = new Map<number, string[]>();
  for (const field of fields) {
    if (field.number !== MESSAGE.field || field.wireType !== 2) continue;
    const descriptor = parseFields(field.value);
    const index = descriptor.find((part) => part.number === FIELD.oneofIndex && part.wireType === 0);
    if (index === undefined) continue;
    const oneof = varintValue(index.value);
    members.set(oneof, [...(members.get(oneof) ?? []), text(descriptor, FIELD.name) ?? ""]);
  }
  const looksSynthetic = (oneof: number): boolean => {
    const names = members.get(oneof) ?? [];
    return names.length === 1 && oneofNames[oneof] === `_${names[0]}`;
  };
  let lastReal = -1;
  oneofNames.forEach((_name, oneof) => {
    if (!looksSynthetic(oneof)) lastReal = oneof;
  });
  return fields.map((field) => {
    if (field.number !== MESSAGE.field || field.wireType !== 2) return field;
    const descriptor = parseFields(field.value);
    const index = descriptor.find((part) => part.number === FIELD.oneofIndex && part.wireType === 0);
    if (index === undefined || descriptor.some((part) => part.number === FIELD.proto3Optional)) return field;
    const oneof = varintValue(index.value);
    if (oneof <= lastReal || !looksSynthetic(oneof)) return field;
    return { ...field, value: encodeFields([...descriptor, PROTO3_OPTIONAL]) };
  });
}
