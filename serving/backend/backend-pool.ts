import { inferenceWorkersOf, type EmbeddingBackend, type InferenceWorkerCounts } from "../core/backend.ts";

/**
 * Several backends (inference workers, each with its own ONNX Runtime session) behind one: a batch
 * goes to the member with the fewest batches in flight, so with `parallelism` batches admitted by the
 * batcher each member runs at most one. Members must produce the same vectors (the same model file
 * and provider); the first member's width and provider describe the pool. A member whose worker died
 * gets no further batch while another lives (the server fails liveness then and is restarted; until
 * then the others serve).
 */
export class BackendPool implements EmbeddingBackend {
  readonly dimensions: number;
  readonly executionProvider: string;
  readonly #members: readonly EmbeddingBackend[];
  readonly #inFlight: number[];

  constructor(members: readonly EmbeddingBackend[]) {
    const first = members[0];
    if (first === undefined) throw new Error("a backend pool needs at least one member");
    this.#members = members;
    this.#inFlight = members.map(() => 0);
    this.dimensions = first.dimensions;
    this.executionProvider = first.executionProvider;
  }

  get parallelism(): number {
    const live = this.#members.filter((member) => member.failed !== true);
    return Math.max(
      1,
      live.reduce((sum, member) => sum + (member.parallelism ?? 1), 0),
    );
  }

  /** True once every member failed. */
  get failed(): boolean {
    return this.#members.every((member) => member.failed === true);
  }

  get inferenceWorkers(): InferenceWorkerCounts {
    let live = 0;
    let dead = 0;
    for (const member of this.#members) {
      const workers = inferenceWorkersOf(member);
      live += workers.live;
      dead += workers.dead;
    }
    return { live, dead };
  }

  async embed(inputs: readonly Int32Array[]): Promise<Float32Array> {
    const load = (index: number): number =>
      this.#members[index]!.failed === true ? Infinity : (this.#inFlight[index] ?? 0);
    let chosen = 0;
    for (let index = 1; index < this.#members.length; index++) if (load(index) < load(chosen)) chosen = index;
    this.#inFlight[chosen]!++;
    try {
      return await this.#members[chosen]!.embed(inputs);
    } finally {
      this.#inFlight[chosen]!--;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#members.map((member) => member.close()));
  }
}
