import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { servingErrors } from "../core/errors.ts";
import {
  codeLabel,
  ERROR_CODE_TRAILER,
  toGrpcStatus,
  toHttpError,
  toTeiHttpError,
} from "./status-mapping.ts";

describe("status mapping (the one place errors become transport statuses)", () => {
  const table = [
    [servingErrors.emptyInputs(), status.INVALID_ARGUMENT, 400, "JUDE_SERVING_EMPTY_INPUTS"],
    [servingErrors.tooManyInputs(9, 8), status.INVALID_ARGUMENT, 400, "JUDE_SERVING_TOO_MANY_INPUTS"],
    [servingErrors.inputTooLong(0, 256), status.INVALID_ARGUMENT, 400, "JUDE_SERVING_INPUT_TOO_LONG"],
    [servingErrors.unknownPrompt("x", []), status.INVALID_ARGUMENT, 400, "JUDE_SERVING_UNKNOWN_PROMPT"],
    [servingErrors.malformedRequest("bad"), status.INVALID_ARGUMENT, 400, "JUDE_SERVING_MALFORMED_REQUEST"],
    [
      servingErrors.unsupportedEncoding("gzip"),
      status.INVALID_ARGUMENT,
      415,
      "JUDE_SERVING_UNSUPPORTED_ENCODING",
    ],
    [servingErrors.messageTooLarge(10, 5), status.RESOURCE_EXHAUSTED, 413, "JUDE_SERVING_MESSAGE_TOO_LARGE"],
    [servingErrors.overloaded(4), status.RESOURCE_EXHAUSTED, 429, "JUDE_SERVING_OVERLOADED"],
    [servingErrors.notReady(), status.UNAVAILABLE, 503, "JUDE_SERVING_NOT_READY"],
    [servingErrors.draining(), status.UNAVAILABLE, 503, "JUDE_SERVING_DRAINING"],
    [servingErrors.unauthenticated("missing"), status.UNAUTHENTICATED, 401, "JUDE_SERVING_UNAUTHENTICATED"],
    [servingErrors.cancelled(), status.CANCELLED, 499, "JUDE_SERVING_CANCELLED"],
    [servingErrors.backendFailed(new Error("x")), status.INTERNAL, 500, "JUDE_SERVING_BACKEND_FAILED"],
  ] as const;

  it.each(table)("%s -> gRPC %i / HTTP %i", (error, grpcCode, httpStatus, publicCode) => {
    const grpc = toGrpcStatus(error);
    expect(grpc.code).toBe(grpcCode);
    expect(grpc.details).toBe(error.message);
    expect(grpc.metadata?.get(ERROR_CODE_TRAILER)).toEqual([publicCode]);
    const http = toHttpError(error);
    expect(http.status).toBe(httpStatus);
    expect(http.body.error).toMatchObject({ message: error.message, code: publicCode });
  });

  it("never leaks the message of an unexpected error", () => {
    const grpc = toGrpcStatus(new Error("secret path /etc/keys"));
    expect(grpc.code).toBe(status.INTERNAL);
    expect(grpc.details).toBe("inference failed");
    expect(toHttpError(new Error("secret")).body.error.message).toBe("inference failed");
  });

  it("asks clients to back off on overload and tells them how to authenticate", () => {
    expect(toHttpError(servingErrors.overloaded(1)).headers["retry-after"]).toBe("1");
    expect(toHttpError(servingErrors.unauthenticated("invalid")).headers["www-authenticate"]).toMatch(
      /^Bearer/,
    );
  });

  it("labels metrics with gRPC code names", () => {
    expect(codeLabel(undefined)).toBe("OK");
    expect(codeLabel(servingErrors.overloaded(1))).toBe("RESOURCE_EXHAUSTED");
  });

  it("gives OpenAI's model_not_found as 404 with every field of OpenAI's error body", () => {
    const error = servingErrors.modelNotFound("gpt", ["m", "v1"]);
    expect(toGrpcStatus(error).code).toBe(status.NOT_FOUND);
    const http = toHttpError(error);
    expect(http.status).toBe(404);
    expect(http.body).toEqual({
      error: {
        message: 'the model "gpt" is not served here; this server answers for "m", "v1"',
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found",
      },
    });
    expect(toHttpError(servingErrors.overloaded(1)).body.error.param).toBeNull();
  });

  it("names the field a malformed request got wrong in `param`, when the transport knows it", () => {
    const wrongType = servingErrors.malformedRequest("dimensions: expected number", undefined, "dimensions");
    expect(toHttpError(wrongType).body.error).toMatchObject({
      param: "dimensions",
      code: "JUDE_SERVING_MALFORMED_REQUEST",
    });
    expect(
      toHttpError(servingErrors.malformedRequest("the body is not valid JSON")).body.error.param,
    ).toBeNull();
  });
});

describe("TEI's HTTP error mapping", () => {
  const table = [
    [servingErrors.emptyInputs(), 400, "Empty"],
    // TEI refuses an empty text as it refuses an empty batch: "`inputs` cannot be empty", 400 Empty.
    [servingErrors.emptyText(1), 400, "Empty"],
    [servingErrors.tooManyInputs(33, 32), 413, "Validation"],
    [servingErrors.messageTooLarge(10, 5), 413, "Validation"],
    [servingErrors.inputTooLong(0, 256), 422, "Validation"],
    [servingErrors.malformedRequest("bad"), 422, "Validation"],
    [servingErrors.unsupportedEncoding("gzip"), 415, "Validation"],
    [servingErrors.overloaded(4), 429, "Overloaded"],
    [servingErrors.notReady(), 503, "Unhealthy"],
    [servingErrors.backendFailed(new Error("x")), 424, "Backend"],
  ] as const;

  it.each(table)("%s -> HTTP %i %s", (error, httpStatus, errorType) => {
    const http = toTeiHttpError(error);
    expect(http.status).toBe(httpStatus);
    expect(http.body).toEqual({ error: error.message, error_type: errorType });
    expect(http.headers[ERROR_CODE_TRAILER]).toBe(error.publicCode);
  });
});
