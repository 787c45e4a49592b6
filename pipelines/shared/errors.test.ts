import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError } from "@platformatic/kafka";
import { describe, expect, it } from "vitest";
import { StoreError, StoreErrorCodes } from "../../store/index.ts";
import { EmbeddingClientError } from "../embedding-client/errors.ts";
import { dependencyOf, isPipelineError, PipelineError, PipelineErrorCodes } from "./errors.ts";
import { isKafkaOutage, isRebalanceError, isRetryableKafkaError } from "./kafka.ts";
import { kafkaRefusal } from "./kafka-refusal.ts";

describe("pipeline error classification (by type and code, never by message)", () => {
  it("names the dependency a failure came from", () => {
    expect(dependencyOf(new StoreError(StoreErrorCodes.STORE_UNAVAILABLE, "redis away"))).toBe("store");
    expect(dependencyOf(new ProtocolError("NOT_COORDINATOR"))).toBe("kafka");
    expect(dependencyOf(new MultipleErrors("failed", [new ProtocolError("LEADER_NOT_AVAILABLE")]))).toBe(
      "kafka",
    );
    expect(dependencyOf(new EmbeddingClientError(14, "unavailable", undefined))).toBe("embedding");
    expect(dependencyOf(new PipelineError(PipelineErrorCodes.MODEL_MISMATCH, "kafka redis store"))).toBe(
      "pipeline",
    );
  });

  it("recognises a rebalance from the client's flags, also inside an aggregate", () => {
    expect(isRebalanceError(new ProtocolError("REBALANCE_IN_PROGRESS"))).toBe(true);
    expect(
      isRebalanceError(new MultipleErrors("commit failed", [new ProtocolError("ILLEGAL_GENERATION")])),
    ).toBe(true);
    expect(isRebalanceError(new ProtocolError("NOT_COORDINATOR"))).toBe(false);
    expect(isRebalanceError(new Error("rebalance mentioned in a message only"))).toBe(false);
  });

  it("retries Kafka errors the client marks retryable", () => {
    expect(isRetryableKafkaError(new ProtocolError("NOT_COORDINATOR"))).toBe(true);
    expect(isRetryableKafkaError(new ProtocolError("TOPIC_AUTHORIZATION_FAILED"))).toBe(false);
  });

  it("does not retry a broker's refusal of the credentials, though the client wraps it in a retryable network error", () => {
    // The client's shape (checked against a real SASL_SSL broker in test/integration/nearline/kafka-sasl.test.ts).
    const refusal = new ProtocolError(
      "SASL_AUTHENTICATION_FAILED",
      "invalid credentials with SASL mechanism SCRAM-SHA-512",
    );
    const login = new NetworkError("Connection to b:9093 failed.", {
      cause: new AuthenticationError("SASL authentication failed.", {
        cause: new MultipleErrors("response", [refusal]),
      }),
    });
    const wrapped = new MultipleErrors("Listing topics failed.", [
      new MultipleErrors("Cannot connect to any broker.", [login]),
    ]);
    expect(isRetryableKafkaError(wrapped)).toBe(false);
    expect(kafkaRefusal(wrapped)).toEqual({
      reason: expect.stringContaining(
        "refused the SASL login (invalid credentials with SASL mechanism SCRAM-SHA-512)",
      ),
      final: true,
    });
    // A connection closed mid-handshake may be a broker restarting: still retried, only explained.
    const closed = new NetworkError("Connection to b:9093 failed.", {
      cause: new AuthenticationError("Cannot find a suitable SASL mechanism.", {
        cause: new NetworkError("Connection closed"),
      }),
    });
    expect(kafkaRefusal(closed)?.final).toBe(false);
    expect(isRetryableKafkaError(closed)).toBe(true);
    expect(kafkaRefusal(new NetworkError("Connection to b:9093 failed."))).toBeUndefined();
  });

  it("waits at start only for brokers that cannot be reached or do not serve yet, not for a refusal or a missing topic", () => {
    // The client's shape for a port nothing listens on (test/integration/nearline/kafka-outage-at-start.test.ts).
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    const unreachable = new MultipleErrors("Listing topics failed.", [
      new MultipleErrors("Cannot connect to any broker.", [
        new NetworkError("Connection to 127.0.0.1:1 failed.", { cause: refused }),
      ]),
    ]);
    expect(isKafkaOutage(unreachable)).toBe(true);
    // Brokers up but still electing leaders or loading the group's coordinator (a broker just
    // restarted), past the client's own few retries: waited out as well.
    for (const answer of [
      "COORDINATOR_LOAD_IN_PROGRESS",
      "COORDINATOR_NOT_AVAILABLE",
      "NOT_COORDINATOR",
      "LEADER_NOT_AVAILABLE",
      "NOT_LEADER_OR_FOLLOWER",
    ])
      expect(
        isKafkaOutage(new MultipleErrors("joinGroup failed 6 times.", [new ProtocolError(answer)])),
        answer,
      ).toBe(true);
    // Retryable in a running worker, but an answer no wait at start cures: the topic is gone.
    expect(isKafkaOutage(new ProtocolError("UNKNOWN_TOPIC_OR_PARTITION"))).toBe(false);
    // A refusal fails the start at once, also one a broker restart could explain (only explained).
    const closed = new NetworkError("Connection to b:9093 failed.", {
      cause: new AuthenticationError("Cannot find a suitable SASL mechanism.", {
        cause: new NetworkError("Connection closed"),
      }),
    });
    expect(isKafkaOutage(closed)).toBe(false);
    expect(
      isKafkaOutage(new PipelineError(PipelineErrorCodes.KAFKA_REFUSED, "refused", { cause: unreachable })),
    ).toBe(false);
    expect(isKafkaOutage(new PipelineError(PipelineErrorCodes.TOPIC_MISSING, "no topic"))).toBe(false);
  });

  it("matches pipeline errors by code; none is retryable", () => {
    const error = new PipelineError(PipelineErrorCodes.MODEL_MISMATCH, "other model");
    expect(isPipelineError(error, PipelineErrorCodes.MODEL_MISMATCH)).toBe(true);
    expect(isPipelineError(error, PipelineErrorCodes.VERSION_DELETING)).toBe(false);
    expect(error.retryable).toBe(false);
  });
});
