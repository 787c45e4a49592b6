// What one controller's reconcile reads from the shared cache: its primary, the children it owns, the
// types it watches and those it only reads. A key waits only for the lists of these types (the cache
// is shared: a list refused for a type only another controller reads must not hold it back, nor be
// named on its object), so its reconcile is given a view of the cache that refuses every other type: a
// read of an undeclared type would come from a list nobody waited for, or, where --controllers runs
// a subset, from no informer at all.
import { resourceName, type ResourceType } from "./resource-types.ts";
import type { CacheReader, ControllerDefinition, KubeObject, ObjectKey } from "./types.ts";

/** The types a controller's reconcile may read from the cache, each once, in declaration order. */
export function readTypesOf(definition: ControllerDefinition): ResourceType[] {
  const declared = [
    definition.primary,
    ...(definition.owns ?? []),
    ...(definition.watches ?? []).map((watched) => watched.type),
    ...(definition.reads ?? []).map((read) => read.type),
  ];
  const byName = new Map<string, ResourceType>();
  for (const type of declared) if (!byName.has(resourceName(type))) byName.set(resourceName(type), type);
  return [...byName.values()];
}

/** `cache` restricted to `types`: a read of any other type throws, naming `controller`. */
export function declaredReader(
  cache: CacheReader,
  controller: string,
  types: readonly ResourceType[],
): CacheReader {
  const declared = new Set(types.map(resourceName));
  const check = (type: ResourceType): void => {
    if (declared.has(resourceName(type))) return;
    throw new Error(
      `${resourceName(type)} is not declared by the ${controller} controller: add it to its owns, watches or reads (its reconciles wait only for the lists of what it declares)`,
    );
  };
  return {
    get<T extends KubeObject = KubeObject>(type: ResourceType, key: ObjectKey): T | undefined {
      check(type);
      return cache.get<T>(type, key);
    },
    list<T extends KubeObject = KubeObject>(
      type: ResourceType,
      options?: { namespace?: string; labels?: Record<string, string> },
    ): T[] {
      check(type);
      return cache.list<T>(type, options);
    },
  };
}
