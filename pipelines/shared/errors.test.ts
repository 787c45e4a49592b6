import { MultipleErrors, ProtocolError } from "@platformatic/kafka";
import { describe, expect, it } from "vitest";
import { StoreError, StoreErrorCodes } from "../../store/index.ts";
import { EmbeddingClientError } from "../embedding-client/errors.ts";
import { dependencyOf, isPipelineError, PipelineError, PipelineErrorCodes } from "./errors.ts";
import { isRebalanceError, isRetryableKafkaError } from "./kafka.ts";

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

  it("matches pipeline errors by code; none is retryable", () => {
    const error = new PipelineError(PipelineErrorCodes.MODEL_MISMATCH, "other model");
    expect(isPipelineError(error, PipelineErrorCodes.MODEL_MISMATCH)).toBe(true);
    expect(isPipelineError(error, PipelineErrorCodes.VERSION_DELETING)).toBe(false);
    expect(error.retryable).toBe(false);
  });
});
