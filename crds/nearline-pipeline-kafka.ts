// NearlinePipeline.spec.source.kafka: the changelog topic and how to connect to its cluster. Secrets
// are referenced, never inlined, so a pipeline object can live in Git.
import { z } from "zod";
import { secretKeyRef } from "./common.ts";
import { withRules } from "./kube.ts";
import { hostPortPattern, kafkaTopicPattern } from "./patterns.ts";

/** TLS to the brokers; present (even as {}) means TLS is on. */
export const kafkaTls = withRules(
  z.strictObject({
    caSecretRef: secretKeyRef
      .optional()
      .describe("PEM CA bundle that signs the brokers' certificates; unset trusts the system roots."),
    certSecretRef: secretKeyRef
      .optional()
      .describe("PEM client certificate for mutual TLS; set together with keySecretRef."),
    keySecretRef: secretKeyRef.optional().describe("PEM private key of certSecretRef's certificate."),
  }),
  [
    {
      rule: "has(self.certSecretRef) == has(self.keySecretRef)",
      message: "certSecretRef and keySecretRef must be set together",
      field: "keySecretRef",
      reason: "FieldValueRequired",
      holds: (self) => (self.certSecretRef === undefined) === (self.keySecretRef === undefined),
    },
  ],
);

/** SASL authentication to the brokers. */
export const kafkaSasl = z.strictObject({
  mechanism: z
    .enum(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    .default("SCRAM-SHA-512")
    .describe("SASL mechanism; PLAIN sends the password itself and so requires tls."),
  usernameSecretRef: secretKeyRef.describe("Secret key holding the SASL username."),
  passwordSecretRef: secretKeyRef.describe("Secret key holding the SASL password."),
});

/** A Kafka changelog topic and its cluster. */
export const kafkaSource = withRules(
  z.strictObject({
    bootstrapServers: z
      .array(z.string().max(261).regex(hostPortPattern, "must be host:port"))
      .min(1)
      .max(32)
      .describe("Brokers to bootstrap from, as host:port."),
    topic: z
      .string()
      .min(1)
      .max(249)
      .regex(
        kafkaTopicPattern,
        "must be a Kafka topic name: letters, digits, '.', '_' and '-', not '.' or '..'",
      )
      .describe("Changelog topic: one record per change, keyed by entity id (ideally compacted)."),
    consumerGroup: z
      .string()
      .min(1)
      .max(200)
      .regex(
        kafkaTopicPattern,
        "must be a Kafka topic name: letters, digits, '.', '_' and '-', not '.' or '..'",
      )
      .optional()
      .describe(
        "Consumer group prefix; each version's workers commit as <consumerGroup>.<version>. Defaults to jude.<namespace>.<name>.",
      ),
    startOffset: z
      .enum(["Earliest", "Latest"])
      .default("Latest")
      .describe(
        "Where a version's workers start when they have no committed offset and no bootstrap captured offsets for them: Latest (a BootstrapRun fills history) or Earliest (replay the whole topic). Either way, partitions added to the topic after the version started are read from their first record.",
      ),
    tls: kafkaTls.optional().describe("Connect over TLS; {} uses the system trust roots."),
    sasl: kafkaSasl.optional().describe("Authenticate with SASL."),
  }),
  [
    {
      rule: "!has(self.sasl) || self.sasl.mechanism != 'PLAIN' || has(self.tls)",
      message: "SASL PLAIN sends the password in clear text: enable tls or use a SCRAM mechanism",
      field: "sasl.mechanism",
      holds: (self) => self.sasl === undefined || self.sasl.mechanism !== "PLAIN" || self.tls !== undefined,
    },
  ],
);
