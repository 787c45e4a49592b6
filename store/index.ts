/**
 * Public API of the versioned embedding store. See the README ("Store layout") for the key layout and value encodings
 * that readers in other languages follow.
 */

export type { BatchCommand, BatchResult } from "./batch.ts";
export { execBatch, isCluster } from "./batch.ts";
export type { RecordMeta, VectorDtype, VectorPayload } from "./codec.ts";
export { decodeMeta, decodePayload, decodeVector, encodeMeta, encodePayload, encodeVector } from "./codec.ts";
export type { RedisClient } from "./commands.ts";
export type { ClusterTarget, ConnectOptions, RedisTarget } from "./connection.ts";
export { connectRedis, dropConnection, parseClusterNodes, parseClusterTarget } from "./connection.ts";
export type { Coverage, VersionCounts } from "./coverage.ts";
export { countVersion, coverage, coverageRatio, liveBuckets } from "./coverage.ts";
export type { FlipRequest, FlipResult } from "./cutover.ts";
export { flip, rollback } from "./cutover.ts";
export type { StoreErrorCode } from "./errors.ts";
export { StoreError, StoreErrorCodes, isStoreError, isStoreOutage, isTransientRedisError } from "./errors.ts";
export type { DurabilityOptions } from "./durability.ts";
export { checkDurabilitySupport } from "./durability.ts";
export type { GcStepResult } from "./gc.ts";
export {
  DEFAULT_GC_BUCKETS_PER_STEP,
  collectGarbage,
  deleteVersionStep,
  selectVersionsToDelete,
} from "./gc.ts";
export type { BucketKeys, ControlKeys, StoreLayout } from "./layout.ts";
export {
  DEFAULT_BUCKETS,
  LAYOUT_VERSION,
  bucketKeys,
  bucketOf,
  controlKeys,
  createLayout,
  defaultPrefix,
  fnv1a32,
  recordField,
} from "./layout.ts";
export type { StoreMetrics } from "./metrics.ts";
export { createStoreMetrics } from "./metrics.ts";
export type { Position } from "./ordering.ts";
export { comparePositions, isNewer } from "./ordering.ts";
export type { ClaimResult, OwnerIdentity, StoreOwner } from "./owner.ts";
export { claimOwner, readOwner } from "./owner.ts";
export type { PointerState } from "./pointer.ts";
export { EMPTY_POINTER, readPointer } from "./pointer.ts";
export type { PointerWatcherOptions, RefreshReason } from "./pointer-watcher.ts";
export { PointerWatcher } from "./pointer-watcher.ts";
export type { LookupOptions, ReaderOptions, VectorHit } from "./reader.ts";
export { StoreReader } from "./reader.ts";
export type { RetryPolicy } from "./retry.ts";
export { DEFAULT_RETRY_POLICY } from "./retry.ts";
export type { OpenStoreOptions, Store } from "./store.ts";
export type { OffsetSource, SourceOffsetMark, SourceOffsetResult } from "./source-offsets.ts";
export {
  adoptLegacySourceOffsets,
  initSourceOffsets,
  legacySourceOffsetField,
  readSourceOffsets,
  sourceOffsetField,
  sourceOffsetsKey,
} from "./source-offsets.ts";
export { openStore } from "./store.ts";
export type { ClaimOptions, TextClaims, TextVector } from "./text-cache.ts";
export { claimTexts, getTexts, putTexts, releaseTextClaims } from "./text-cache.ts";
export type { VectorSettings, VersionInfo, VersionSpec, VersionState } from "./versions.ts";
export {
  describeRedefinition,
  getVersion,
  isKnownVersionState,
  listVersions,
  markVersionComplete,
  parseVersionInfo,
  promptDigest,
  registerVersion,
  vectorSettingsOf,
} from "./versions.ts";
export type {
  AdvanceWrite,
  DeleteWrite,
  RecordKey,
  SourceOffsetMarks,
  StoreWrite,
  UpsertWrite,
  WriteOutcome,
  WriterOptions,
} from "./writer.ts";
export { StoreWriter } from "./writer.ts";
