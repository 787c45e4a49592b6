/**
 * IEEE 754 binary16 conversion. Vectors may be stored as float16 to halve memory; the conversion is
 * written out here because `Float16Array` is not in the ES2024 library this project targets.
 */

const scratch = new DataView(new ArrayBuffer(4));

/** Converts a number to binary16 bits, rounding to nearest even; overflow becomes ±Infinity. */
export function toFloat16Bits(value: number): number {
  scratch.setFloat32(0, value);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf or NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // too large: Infinity
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the implicit-one mantissa right, rounding to nearest even.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const rounded = roundShift(full, shift);
    return sign | rounded;
  }
  const rounded = roundShift(mantissa, 13);
  // A mantissa carry into bit 10 correctly bumps the exponent (and may produce Infinity).
  return sign | ((halfExponent << 10) + rounded);
}

/** Converts binary16 bits to a number. */
export function fromFloat16Bits(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function roundShift(value: number, shift: number): number {
  const truncated = value >>> shift;
  const remainder = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (remainder > half || (remainder === half && (truncated & 1) === 1)) return truncated + 1;
  return truncated;
}
