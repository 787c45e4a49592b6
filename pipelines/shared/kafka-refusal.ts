// Why Kafka brokers would not let a client in, from the client's (@platformatic/kafka) error tree.
// Kept apart from kafka.ts so the operator can explain a refusal without loading the Kafka client.
import { someError } from "./errors.ts";

/** Node's codes for a peer certificate that does not verify. */
const untrustedCertificate =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/**
 * Why the brokers would not let this client in, in the words of the resource's fields, when the
 * client's error says it: the broker refused the SASL login (its own message), does not offer the
 * mechanism, or does not speak SASL there; the broker's certificate does not verify; a TLS handshake
 * with a listener that does not speak TLS; a SASL handshake cut short (often TLS missing). `final`
 * marks what only a change of config or Secret cures; the rest can be a broker restarting.
 */
export function kafkaRefusal(error: unknown): { reason: string; final: boolean } | undefined {
  let found: { reason: string; final: boolean } | undefined;
  const protocolError = (apiId: string): Record<string, unknown> | undefined => {
    let match: Record<string, unknown> | undefined;
    someError(error, (candidate) => (candidate.apiId === apiId ? ((match = candidate), true) : false));
    return match;
  };
  const refused = protocolError("SASL_AUTHENTICATION_FAILED");
  if (refused !== undefined) {
    const said = typeof refused.serverErrorMessage === "string" ? refused.serverErrorMessage : "";
    return {
      reason: `the broker refused the SASL login${said === "" ? "" : ` (${said})`}: check the Secret keys sasl.usernameSecretRef/passwordSecretRef`,
      final: true,
    };
  }
  if (protocolError("UNSUPPORTED_SASL_MECHANISM") !== undefined)
    return {
      reason:
        "the broker does not enable this SASL mechanism on the listener: set sasl.mechanism to one it lists in sasl.enabled.mechanisms",
      final: true,
    };
  if (protocolError("ILLEGAL_SASL_STATE") !== undefined)
    return {
      reason:
        "the listener does not authenticate with SASL: remove sasl, or use the brokers' SASL listener port",
      final: true,
    };
  someError(error, (candidate) => {
    if (typeof candidate.code === "string" && untrustedCertificate.test(candidate.code)) {
      found = {
        reason: `the broker's TLS certificate does not verify (${String(candidate.message)}): give tls.caSecretRef the CA that signed it`,
        final: true,
      };
      return true;
    }
    if (candidate.code === "PLT_KFK_USER" && /TLS handshake failed/.test(String(candidate.message))) {
      found = {
        reason:
          "the TLS handshake failed: the listener may not speak TLS (remove tls, or use the brokers' TLS listener port)",
        final: false,
      };
      return true;
    }
    if (
      candidate.code === "PLT_KFK_AUTHENTICATION" &&
      /suitable SASL mechanism/.test(String(candidate.message)) &&
      someError(candidate.cause, (inner) => /Connection closed/.test(String(inner.message)))
    ) {
      found = {
        reason:
          "the broker closed the connection during the SASL handshake: a TLS listener spoken to without tls does that",
        final: false,
      };
      return true;
    }
    return false;
  });
  return found;
}
