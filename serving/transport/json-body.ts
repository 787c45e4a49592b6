/**
 * JSON bytes of an HTTP answer, with the vectors written fast. The numbers of a float vector are most
 * of an embedding answer (384 to 1024 per text) and V8's number-to-text conversion is the slow part:
 * `JSON.stringify(Array.from(vector))` spends ~55 µs on one 384-float vector of distinct values on
 * this project's 2-core test machine, and `String(number)` in a loop ~140 µs (it only looks fast when
 * the same numbers repeat, from V8's number-to-string cache). A vector's floats are float32, so each
 * is written here from integer digits, with the 9 significant digits (`FLT_DECIMAL_DIG`, as C's
 * `%.9g`) that always read back as the same float32, straight into the answer's bytes: ~8 µs per
 * vector, and a third fewer bytes than the shortest double text of the same values.
 */

const ZERO = 0x30;
/** 10^0 to 10^60, which covers float32's range at 9 digits; exact up to 10^22, within 1e-16 beyond. */
const POW10 = Array.from({ length: 61 }, (_, exponent) => Number(`1e${exponent}`));

/** Grows as answers need; reused, because encoding is synchronous. */
let scratch = Buffer.allocUnsafe(64 * 1024);
let position = 0;

/**
 * The UTF-8 bytes of `JSON.stringify(value)`, except that a `Float32Array` anywhere in it is written
 * as a JSON array of its numbers, each with at most 9 significant digits, which parse back (as a
 * double, then rounded to float32, or directly as a float32) to exactly the same float32; a
 * `Float64Array` is written as `JSON.stringify(Array.from(array))` would write it. Non-finite
 * numbers are `null`, as JSON.stringify writes them.
 */
export function encodeJson(value: unknown): Buffer {
  position = 0;
  if (!write(value, "")) ascii("null");
  const bytes = Buffer.allocUnsafe(position);
  scratch.copy(bytes, 0, 0, position);
  return bytes;
}

function reserve(bytes: number): void {
  if (position + bytes <= scratch.length) return;
  const grown = Buffer.allocUnsafe(Math.max(scratch.length * 2, position + bytes));
  scratch.copy(grown, 0, 0, position);
  scratch = grown;
}

function ascii(text: string): void {
  reserve(text.length);
  position += scratch.write(text, position, "latin1");
}

function utf8(text: string): void {
  reserve(text.length * 3);
  position += scratch.write(text, position, "utf8");
}

function byte(code: number): void {
  reserve(1);
  scratch[position++] = code;
}

/** Writes `value`'s JSON; false (and nothing written) where JSON.stringify would leave it out. */
function write(value: unknown, key: string): boolean {
  if (value instanceof Float32Array) {
    float32Array(value);
    return true;
  }
  if (value instanceof Float64Array) {
    ascii(JSON.stringify(Array.from(value)));
    return true;
  }
  if (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  )
    return write((value as { toJSON(key: string): unknown }).toJSON(key), key);
  switch (typeof value) {
    case "string":
      utf8(JSON.stringify(value));
      return true;
    case "number":
      ascii(Number.isFinite(value) ? String(value) : "null");
      return true;
    case "boolean":
      ascii(value ? "true" : "false");
      return true;
    case "object":
      if (value === null) ascii("null");
      else if (Array.isArray(value)) array(value);
      else object(value as Record<string, unknown>);
      return true;
    case "bigint":
      throw new TypeError("Do not know how to serialize a BigInt");
    default:
      return false; // undefined, functions and symbols: left out of objects, null in arrays
  }
}

function array(values: readonly unknown[]): void {
  byte(0x5b); // [
  for (let index = 0; index < values.length; index++) {
    if (index > 0) byte(0x2c); // ,
    if (!write(values[index], String(index))) ascii("null");
  }
  byte(0x5d); // ]
}

function object(record: Record<string, unknown>): void {
  byte(0x7b); // {
  let first = true;
  for (const key of Object.keys(record)) {
    const member = record[key];
    const start = position;
    if (!first) byte(0x2c);
    utf8(JSON.stringify(key));
    byte(0x3a); // :
    if (write(member, key)) first = false;
    else position = start; // left out, with its key
  }
  byte(0x7d); // }
}

function float32Array(values: Float32Array): void {
  // Per number at most 23 bytes: a comma, a sign and 21 digits (9 significant, then zeros, below 1e21).
  reserve(2 + values.length * 23);
  const out = scratch;
  let at = position;
  out[at++] = 0x5b; // [
  for (let index = 0; index < values.length; index++) {
    if (index > 0) out[at++] = 0x2c; // ,
    at = writeFloat32(out, at, values[index]!);
  }
  out[at++] = 0x5d; // ]
  position = at;
}

/** `value` (a positive float32) times 10^`exponent` (-30 to 53), rounded to an integer. */
function scaled(value: number, exponent: number): number {
  return Math.round(exponent >= 0 ? value * POW10[exponent]! : value / POW10[-exponent]!);
}

/**
 * Writes one float32 at `out[at]` with 9 significant digits, trailing zeros dropped, laid out as
 * JavaScript lays out a number of that size (plain decimals from 1e-6 to below 1e21, otherwise
 * `d.ddde±x`); returns where it ended. Nine digits are within 5e-9 of the value, relative, against a
 * float32's half step of at least 3e-8, so any correctly rounding reader gets the same float32 back;
 * the double arithmetic's own error (below 1e-15) cannot change that.
 */
function writeFloat32(out: Uint8Array, at: number, value: number): number {
  if (value !== value || value === Infinity || value === -Infinity) {
    out[at] = 0x6e; // null
    out[at + 1] = 0x75;
    out[at + 2] = 0x6c;
    out[at + 3] = 0x6c;
    return at + 4;
  }
  if (value === 0) {
    out[at] = ZERO; // JSON.stringify writes -0 as 0 too
    return at + 1;
  }
  if (value < 0) {
    out[at++] = 0x2d; // -
    value = -value;
  }
  // value = digits * 10^(exponent - 8), with 10^8 <= digits < 10^9.
  let exponent = Math.floor(Math.log10(value));
  let digits = scaled(value, 8 - exponent);
  if (digits >= 1e9) {
    exponent++; // log10 fell short, or the rounding carried into a tenth digit
    digits = scaled(value, 8 - exponent);
  } else if (digits < 1e8) {
    exponent--; // log10 overshot
    digits = scaled(value, 8 - exponent);
  }
  if (digits >= 1e9) digits = 1e8; // 999999999.5 and up, after the correction: the next power of ten
  digits |= 0; // below 2^31 from here on
  let count = 9;
  for (let tenth = (digits / 10) | 0; digits === tenth * 10; tenth = (digits / 10) | 0) {
    digits = tenth;
    count--;
  }
  if (exponent >= 0 && exponent < 21) {
    if (count <= exponent + 1) {
      // An integer: its digits, then zeros.
      at = writeDigits(out, at, digits, count);
      for (let zeros = exponent + 1 - count; zeros > 0; zeros--) out[at++] = ZERO;
      return at;
    }
    const fraction = count - exponent - 1;
    const whole = (digits / POW10[fraction]!) | 0;
    at = writeDigits(out, at, whole, exponent + 1);
    out[at++] = 0x2e; // .
    return writeDigits(out, at, digits - whole * POW10[fraction]!, fraction);
  }
  if (exponent < 0 && exponent >= -6) {
    out[at++] = ZERO;
    out[at++] = 0x2e; // .
    for (let zeros = -exponent - 1; zeros > 0; zeros--) out[at++] = ZERO;
    return writeDigits(out, at, digits, count);
  }
  const lead = (digits / POW10[count - 1]!) | 0;
  out[at++] = ZERO + lead;
  if (count > 1) {
    out[at++] = 0x2e; // .
    at = writeDigits(out, at, digits - lead * POW10[count - 1]!, count - 1);
  }
  out[at++] = 0x65; // e
  out[at++] = exponent < 0 ? 0x2d : 0x2b;
  const magnitude = exponent < 0 ? -exponent : exponent;
  return writeDigits(out, at, magnitude, magnitude >= 10 ? 2 : 1);
}

/** Writes `value` (an integer below 2^31) as exactly `count` decimal digits, with leading zeros. */
function writeDigits(out: Uint8Array, at: number, value: number, count: number): number {
  for (let index = at + count - 1; index >= at; index--) {
    const tenth = (value / 10) | 0;
    out[index] = ZERO + value - tenth * 10;
    value = tenth;
  }
  return at + count;
}
