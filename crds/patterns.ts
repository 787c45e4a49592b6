// Regular expressions shared by the schemas. Each one is executed twice: by zod (JavaScript RegExp) and
// by the API server (Go RE2, as an OpenAPI `pattern` or inside CEL `matches`). They therefore use only
// the common subset of both dialects: no lookaround, no backreferences, no flags, ASCII classes only
// (`\s`, `\d`, `\w` differ between the two on Unicode input), and they are anchored because OpenAPI
// `pattern` is a search, not a full match.

/** RFC 1123 label: what Kubernetes accepts for most names; at most 63 characters. */
export const dnsLabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 subdomain, unanchored: the prefix of label keys and resource names too. */
const dnsSubdomain = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/** RFC 1123 subdomain: object names such as Secrets and PriorityClasses; at most 253 characters. */
export const dnsSubdomainPattern = new RegExp(`^${dnsSubdomain}$`);

/**
 * A label key (a qualified name): an optional DNS subdomain prefix and '/', then at most 63 letters,
 * digits, '-', '_' and '.', starting and ending alphanumeric. Node selector and toleration keys too.
 */
const labelKey = `(${dnsSubdomain}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?`;
export const labelKeyPattern = new RegExp(`^${labelKey}$`);

/** A toleration's key: a label key, or empty (with operator Exists: every taint). */
export const tolerationKeyPattern = new RegExp(`^(${labelKey})?$`);

/** A label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric. */
export const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A key inside a Secret's data, as Kubernetes validates it. */
export const secretKeyPattern = /^[-._a-zA-Z0-9]+$/;

/** Lower-case hexadecimal SHA-256 digest, as printed by `sha256sum`. */
export const sha256Pattern = /^[a-f0-9]{64}$/;

/**
 * Where a model or data file is read from: `https://host/path`, `file:///absolute/path` (baked into
 * the image or mounted) or `pvc://claim/path` (a PersistentVolumeClaim in the object's namespace).
 * `[!-~]` is every printable ASCII character except space.
 */
export const artifactUriPattern =
  /^(https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?\/[!-~]+|file:\/\/\/[!-~]+|pvc:\/\/[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[!-~]+)$/;

/**
 * A query parameter that carries a credential in a signed or token-bearing URL (AWS SigV4 and SigV2,
 * Google Cloud Storage, Azure SAS `sig`, CloudFront, generic tokens and API keys). Matched, unanchored,
 * against the lower-cased URI: such a URL belongs in a Secret, never in a spec the operator copies
 * into pod args and ConfigMaps.
 */
export const credentialQueryParameters = [
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "x-goog-signature",
  "x-goog-credential",
  "signature",
  "sig",
  "awsaccesskeyid",
  "googleaccessid",
  "key-pair-id",
  "policy",
  "token",
  "access_token",
  "api_key",
  "apikey",
  "password",
] as const;

export const credentialQueryPattern = new RegExp(`[?&](${credentialQueryParameters.join("|")})=`);

// Grammars that workers also parse live with their parsers, so the two cannot drift apart.
export { fieldNamePattern, promptTemplatePattern } from "./grammar/prompt-template.ts";
export { jsonPathPattern } from "./grammar/json-path.ts";

/** A Kafka topic name (Kafka's own rule: at most 249 of these characters, and not "." or ".."). */
export const kafkaTopicPattern =
  /^([A-Za-z0-9_-][A-Za-z0-9._-]*|\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\.\.[A-Za-z0-9._-]+)$/;

/** `host:port` with a DNS name, an IPv4 address or a bracketed IPv6 address; the port is 1-65535. */
export const hostPortPattern =
  /^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$/;

/** A prefixed (extended) resource name, unanchored: a DNS subdomain, '/', a name. */
const extendedResource = `${dnsSubdomain}/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`;

/**
 * A container resource name the Pod spec accepts: a standard one (`cpu`, `memory`,
 * `ephemeral-storage`, `hugepages-<size>`) or a prefixed one (`nvidia.com/gpu`; the prefix is any DNS
 * subdomain, a dotless one too, as device plugins' `smarter-devices/fuse`).
 */
export const resourceNamePattern = new RegExp(
  `^(cpu|memory|ephemeral-storage|hugepages-[0-9]+[KMGTPE]i|${extendedResource})$`,
);

/** A domain-prefixed extended resource name such as `nvidia.com/gpu` or `amd.com/gpu`. */
export const extendedResourcePattern = new RegExp(`^${extendedResource}$`);

/**
 * Kubernetes resource quantity (`resource.Quantity`), e.g. `500m`, `2Gi`, `1e3`; never negative, as
 * container requests and limits must not be.
 */
export const quantityPattern =
  /^(\+)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A container image reference; the registry validates the rest. */
export const imagePattern = /^[!-~]+$/;

/** Condition type as metav1.Condition defines it: an optional DNS prefix and a CamelCase name. */
export const conditionTypePattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;

/** Condition reason as metav1.Condition defines it: a CamelCase programmatic identifier. */
export const conditionReasonPattern = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/**
 * The source of a pattern as the API server gets it: without the `\/` escapes JavaScript adds to a
 * RegExp's source (RE2 accepts them, but they make the CRD harder to read).
 */
export function portableSource(pattern: RegExp): string {
  if (pattern.flags !== "")
    throw new Error(`pattern ${String(pattern)} has flags, which RE2 patterns cannot carry`);
  let out = "";
  for (let i = 0; i < pattern.source.length; i++) {
    const char = pattern.source[i];
    const next = pattern.source[i + 1];
    if (char === "\\" && next !== undefined) {
      // An escape pair: keep it, except that "\/" becomes a plain slash.
      out += next === "/" ? "/" : char + next;
      i++;
    } else {
      out += char;
    }
  }
  return out;
}
