// The processor options the nearline processor's unit tests share: jobs keyed by `$.id`, timed by
// `$.time`, deleted by `op: "d"`, embedded as "Job: {{title}}" for version v1, with change detection.
import type { ProcessorOptions } from "./processor.ts";

export const jobProcessorOptions = {
  entity: "job",
  modelVersion: "v1",
  modelDigest: "sha256:m",
  template: "Job: {{title}}",
  extract: { title: "$.title" },
  decode: { keyPath: "$.id", eventTimePath: "$.time", delete: { path: "$.op", values: ["d"] } },
  changeDetection: true,
} satisfies Partial<ProcessorOptions>;
