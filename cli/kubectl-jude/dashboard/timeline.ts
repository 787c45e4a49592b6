// The timeline of a model's promotion: every condition transition of the model, its pipelines and
// bootstrap runs (lastTransitionTime is kept across reconciles, so it marks the real transition), merged
// with the Kubernetes Events recorded on those objects, newest first.
import type { Condition } from "../../../crds/index.ts";

/** A core/v1 Event as the dashboard reads it (fields the operator's event recorder writes). */
export interface KubeEvent {
  metadata: { name?: string; namespace?: string; uid?: string };
  involvedObject: { kind?: string; name?: string; namespace?: string; apiVersion?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
}

/** One line of the timeline. */
export interface TimelineEntry {
  time: string;
  source: "condition" | "event";
  /** "EmbeddingModel/minilm", "NearlinePipeline/jobs", … */
  object: string;
  /** Condition type, or the event's reason. */
  title: string;
  /** Condition status (True/False/Unknown) or event type (Normal/Warning). */
  status: string;
  /** A condition's reason (an event's is its title). */
  reason?: string;
  message: string;
  count?: number;
}

/** The objects whose history belongs on one model's timeline. */
export interface TimelineSubject {
  kind: string;
  name: string;
  conditions?: Condition[] | undefined;
}

/** The time an event last happened: lastTimestamp, else eventTime, else firstTimestamp. */
export function eventTime(event: KubeEvent): string | undefined {
  return event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? undefined;
}

/** Conditions and events of `subjects` (same namespace), newest first, at most `limit` entries. */
export function buildTimeline(
  subjects: TimelineSubject[],
  events: KubeEvent[],
  namespace: string,
  limit = 60,
): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  const wanted = new Set(subjects.map((subject) => `${subject.kind}/${subject.name}`));
  for (const subject of subjects)
    for (const condition of subject.conditions ?? [])
      if (condition.lastTransitionTime !== undefined)
        entries.push({
          time: condition.lastTransitionTime,
          source: "condition",
          object: `${subject.kind}/${subject.name}`,
          title: condition.type,
          status: condition.status,
          ...(condition.reason !== undefined && { reason: condition.reason }),
          message: condition.message ?? "",
        });
  for (const event of events) {
    const involved = event.involvedObject;
    const object = `${involved.kind ?? ""}/${involved.name ?? ""}`;
    const time = eventTime(event);
    if ((involved.namespace ?? namespace) !== namespace || !wanted.has(object) || time === undefined)
      continue;
    entries.push({
      time,
      source: "event",
      object,
      title: event.reason ?? "",
      status: event.type ?? "Normal",
      message: event.message ?? "",
      ...(event.count !== undefined && event.count > 1 && { count: event.count }),
    });
  }
  // ISO-8601 UTC timestamps sort as strings; ties keep conditions before the events they caused.
  entries.sort((a, b) => (a.time === b.time ? 0 : a.time < b.time ? 1 : -1));
  return entries.slice(0, limit);
}
