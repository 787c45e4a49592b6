/** text-embeddings-inference's per-response metadata: the Metadata message and the x-* headers. */
import type { EmbedResult } from "../core/types.ts";

/**
 * Characters as TEI counts them (Rust's `chars().count()`): Unicode code points, not UTF-16 units, so
 * "rocket 🚀🚀 ok" is 12 characters, not 14.
 */
export function codePointCount(text: string): number {
  let count = 0;
  for (const _codePoint of text) count++;
  return count;
}

/** tei.v1.Metadata, in the shape proto-loader encodes. */
export interface TeiMetadata {
  computeChars: number;
  computeTokens: number;
  totalTimeNs: number;
  tokenizationTimeNs: number;
  queueTimeNs: number;
  inferenceTimeNs: number;
}

/** The Metadata of an answer: characters and tokens of all its texts, the call's times. */
export function teiMetadata(texts: readonly string[], result: EmbedResult): TeiMetadata {
  const { timings } = result;
  return {
    computeChars: texts.reduce((sum, text) => sum + codePointCount(text), 0),
    computeTokens: result.totalTokens,
    totalTimeNs: timings.totalNs,
    tokenizationTimeNs: timings.tokenizationNs,
    queueTimeNs: timings.queueNs,
    inferenceTimeNs: timings.inferenceNs,
  };
}

/**
 * The headers TEI sends with every answer (HTTP response headers; initial metadata on gRPC): times in
 * whole milliseconds as TEI truncates them, `x-compute-type` the kind of device that computed.
 */
export function teiHeaders(metadata: TeiMetadata, executionProvider: string): Record<string, string> {
  const ms = (ns: number): string => String(Math.floor(ns / 1e6));
  return {
    "x-compute-type": executionProvider === "cuda" ? "gpu" : "cpu",
    "x-compute-time": ms(metadata.totalTimeNs),
    "x-compute-characters": String(metadata.computeChars),
    "x-compute-tokens": String(metadata.computeTokens),
    "x-total-time": ms(metadata.totalTimeNs),
    "x-tokenization-time": ms(metadata.tokenizationTimeNs),
    "x-queue-time": ms(metadata.queueTimeNs),
    "x-inference-time": ms(metadata.inferenceTimeNs),
  };
}
