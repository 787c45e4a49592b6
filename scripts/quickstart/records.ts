// How the quickstart's changelog events look on Kafka: JSON values keyed by entity id, with the event
// time in `updatedAt` and deletes as {"op": "delete"} — the shape examples/quickstart's pipelines
// decode (keyPath, eventTimePath, delete rule).
import type { ChangeEvent, EntityKind } from "./changelog.ts";

/** Changelog topic per entity kind. */
export const changelogTopics: Record<EntityKind, string> = {
  job: "quickstart.jobs.changelog",
  "member-profile": "quickstart.member-profiles.changelog",
};

/** A record ready to produce. */
export interface ChangelogRecord {
  topic: string;
  key: string;
  value: string;
}

/** The Kafka record of an event that happened at `eventTimeMs`. */
export function toRecord(
  event: ChangeEvent,
  eventTimeMs: number,
  topics: Record<EntityKind, string> = changelogTopics,
): ChangelogRecord {
  const updatedAt = new Date(eventTimeMs).toISOString();
  const idField = event.kind === "job" ? "jobId" : "memberId";
  const value =
    event.op === "delete"
      ? { [idField]: event.id, op: "delete", updatedAt, synthetic: true }
      : { ...event.entity, op: event.op === "create" ? "create" : "update", updatedAt };
  return { topic: topics[event.kind], key: event.id, value: JSON.stringify(value) };
}
