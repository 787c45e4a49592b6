// Go's time.ParseDuration, ported step for step (go/src/time/format.go), so that `kubectl jude` reads
// a duration flag exactly as kubectl (a Go program) reads it: the same units, the same forms (".5s",
// "1.s", "+5s", "3m2h"), the same overflow checks, the same truncation of a fraction finer than 1 ns.

/** Nanoseconds per unit; "µs" is both the micro sign (U+00B5) and the Greek mu (U+03BC), as in Go. */
const unitNanoseconds: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n,
  "\u03bcs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const TWO_TO_63 = 1n << 63n;
/** The largest Go time.Duration: about 292 years. */
export const MAX_GO_DURATION_NS = TWO_TO_63 - 1n;

/** Whether `character` is 0-9. */
function isDigit(character: string | undefined): boolean {
  return character !== undefined && character >= "0" && character <= "9";
}

/**
 * A Go duration string in nanoseconds, or undefined where Go's time.ParseDuration returns an error:
 * `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units ns, us (µs, μs), ms, s, m, h, or "0" alone; within
 * ±(2^63-1) ns (-2^63 included).
 */
export function parseGoDuration(text: string): bigint | undefined {
  let rest = text;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  if (rest === "0") return 0n;
  if (rest === "") return undefined;
  let total = 0n;
  while (rest !== "") {
    if (!(rest[0] === "." || isDigit(rest[0]))) return undefined;
    // The integer part, refused on overflow (Go's leadingInt).
    let whole = 0n;
    let index = 0;
    for (; isDigit(rest[index]); index += 1) {
      whole = whole * 10n + BigInt(rest.charCodeAt(index) - 48);
      if (whole > TWO_TO_63) return undefined;
    }
    const hasWhole = index > 0;
    rest = rest.slice(index);
    // The fraction: digits past what 63 bits hold are read and dropped (Go's leadingFraction).
    let fraction = 0n;
    let scale = 1;
    let hasFraction = false;
    if (rest.startsWith(".")) {
      rest = rest.slice(1);
      let overflow = false;
      for (index = 0; isDigit(rest[index]); index += 1) {
        if (overflow) continue;
        const next = fraction * 10n + BigInt(rest.charCodeAt(index) - 48);
        if (fraction > (TWO_TO_63 - 1n) / 10n || next > TWO_TO_63) {
          overflow = true;
          continue;
        }
        fraction = next;
        scale *= 10;
      }
      hasFraction = index > 0;
      rest = rest.slice(index);
    }
    if (!hasWhole && !hasFraction) return undefined;
    // The unit: everything up to the next digit or dot.
    for (index = 0; index < rest.length && !(rest[index] === "." || isDigit(rest[index])); index += 1);
    if (index === 0) return undefined;
    const unit = unitNanoseconds[rest.slice(0, index)];
    rest = rest.slice(index);
    if (unit === undefined) return undefined;
    if (whole > TWO_TO_63 / unit) return undefined;
    let value = whole * unit;
    if (fraction > 0n) {
      // In float64, as Go computes it (nanosecond-accurate for fractions of hours), then truncated.
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)));
      if (value > TWO_TO_63) return undefined;
    }
    total += value;
    if (total > TWO_TO_63) return undefined;
  }
  if (negative) return -total;
  return total > MAX_GO_DURATION_NS ? undefined : total;
}
