import {
  status as GrpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";

/** grpc.health.v1 serving status. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

type Listener = (status: ServingStatus) => void;

/**
 * Health of the whole server ("") and of each gRPC service, shared by the gRPC health service and
 * the HTTP /readyz endpoint so both always agree.
 */
export class HealthState {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #closers = new Set<() => void>();
  #broken: string | undefined;

  constructor(services: readonly string[]) {
    for (const service of ["", ...services]) this.#statuses.set(service, "NOT_SERVING");
  }

  /** The status of a service, undefined for a service this server does not have. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Why the server can no longer serve at all (its liveness probe fails), or undefined. */
  get broken(): string | undefined {
    return this.#broken;
  }

  /** Marks the server unable to serve for good: NOT_SERVING from now on, and liveness fails. */
  markBroken(reason: string): void {
    this.#broken ??= reason;
    this.setAll("NOT_SERVING");
  }

  /** Sets every service (and the server as a whole) to `status`, notifying watchers of changes. */
  setAll(status: ServingStatus): void {
    if (this.#broken !== undefined && status === "SERVING") return;
    for (const [service, current] of this.#statuses) {
      if (current === status) continue;
      this.#statuses.set(service, status);
      for (const listener of this.#listeners.get(service) ?? []) listener(status);
    }
  }

  /** Calls `listener` on every change of `service`; returns the unsubscribe function. */
  watch(service: string, listener: Listener): () => void {
    const listeners = this.#listeners.get(service) ?? new Set<Listener>();
    this.#listeners.set(service, listeners);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Registers a Watch stream to be ended by `closeWatches` (so shutdown does not wait on it). */
  onClose(closer: () => void): () => void {
    this.#closers.add(closer);
    return () => this.#closers.delete(closer);
  }

  /** Ends every open Watch stream. */
  closeWatches(): void {
    for (const close of [...this.#closers]) close();
    this.#closers.clear();
  }
}

interface HealthCheckRequest {
  service: string;
}

/** Handlers of grpc.health.v1.Health: Check and Watch, as kubelet gRPC probes expect them. */
export function healthHandlers(state: HealthState): UntypedServiceImplementation {
  return {
    Check(call: ServerUnaryCall<HealthCheckRequest, unknown>, callback: sendUnaryData<unknown>) {
      const status = state.get(call.request.service ?? "");
      if (status === undefined) {
        callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        return;
      }
      callback(null, { status });
    },
    Watch(call: ServerWritableStream<HealthCheckRequest, unknown>) {
      const service = call.request.service ?? "";
      // Per the protocol, an unknown service is reported, not refused: it may be registered later.
      call.write({ status: state.get(service) ?? "SERVICE_UNKNOWN" });
      const unsubscribe = state.watch(service, (status) => call.write({ status }));
      const unregister = state.onClose(() => call.end());
      const cleanup = (): void => {
        unsubscribe();
        unregister();
      };
      call.on("cancelled", cleanup);
      call.on("finish", cleanup);
    },
  };
}
