// Before onnxruntime-node loads: no ONNX Runtime telemetry (see ort-telemetry.ts).
import "./ort-telemetry.ts";
import { Tensor, type InferenceSession } from "onnxruntime-node";
import { BackendError } from "./backend-error.ts";
import { packBatch } from "./batch-tensors.ts";
import { openSession, type SessionSettings } from "./onnx-session.ts";
import { halfToFloat32, poolHiddenStates, type Pooling } from "./pooling.ts";
import { CPU_RUN_COST_TOKENS, planSubBatches } from "./sub-batches.ts";

const SUPPORTED_INPUTS = new Set(["input_ids", "attention_mask", "token_type_ids"]);
// Token-level outputs are pooled here; a model exported with pooling built in is used as is.
const TOKEN_OUTPUTS = ["last_hidden_state", "token_embeddings"];
const POOLED_OUTPUTS = ["sentence_embedding", "pooler_output_normalized"];

/**
 * A transformer encoder in ONNX Runtime that turns batches of token ids into pooled vectors. Used by
 * the inference worker of the server and, directly, by the in-process benchmark that measures the
 * ceiling the server is compared against.
 */
export class OnnxEmbeddingModel {
  readonly executionProvider: "cpu" | "cuda";
  readonly #session: InferenceSession;
  readonly #pooling: Pooling;
  readonly #outputName: string;
  readonly #outputIsPooled: boolean;

  private constructor(session: InferenceSession, executionProvider: "cpu" | "cuda", pooling: Pooling) {
    this.#session = session;
    this.executionProvider = executionProvider;
    this.#pooling = pooling;
    const unsupported = session.inputNames.filter((name) => !SUPPORTED_INPUTS.has(name));
    if (unsupported.length > 0 || !session.inputNames.includes("input_ids")) {
      throw new BackendError(
        "MODEL_UNSUPPORTED",
        `model inputs ${JSON.stringify(session.inputNames)} are not supported; expected input_ids with optional attention_mask and token_type_ids`,
      );
    }
    const tokenOutput = TOKEN_OUTPUTS.find((name) => session.outputNames.includes(name));
    const pooledOutput = POOLED_OUTPUTS.find((name) => session.outputNames.includes(name));
    const outputName = tokenOutput ?? pooledOutput ?? session.outputNames[0];
    if (outputName === undefined) throw new BackendError("MODEL_UNSUPPORTED", "model has no outputs");
    this.#outputName = outputName;
    this.#outputIsPooled = tokenOutput === undefined && pooledOutput !== undefined;
  }

  /** Opens the model; see `openSession` for execution provider selection. */
  static async open(settings: SessionSettings & { pooling: Pooling }): Promise<OnnxEmbeddingModel> {
    const { session, executionProvider } = await openSession(settings);
    return new OnnxEmbeddingModel(session, executionProvider, settings.pooling);
  }

  /**
   * Runs one batch and returns [batch, dimensions] pooled, unnormalised vectors in input order. On the
   * CPU a batch of mixed lengths runs as sub-batches of similar length (see sub-batches.ts).
   */
  async embed(inputs: readonly Int32Array[]): Promise<{ vectors: Float32Array; dimensions: number }> {
    const groups =
      this.executionProvider === "cpu"
        ? planSubBatches(
            inputs.map((ids) => ids.length),
            CPU_RUN_COST_TOKENS,
          )
        : [];
    if (groups.length <= 1) return this.#run(inputs);
    let vectors: Float32Array | undefined;
    let dimensions = 0;
    for (const group of groups) {
      const part = await this.#run(group.map((index) => inputs[index]!));
      dimensions = part.dimensions;
      vectors ??= new Float32Array(inputs.length * dimensions);
      group.forEach((index, row) =>
        vectors!.set(part.vectors.subarray(row * dimensions, (row + 1) * dimensions), index * dimensions),
      );
    }
    return { vectors: vectors!, dimensions };
  }

  async #run(inputs: readonly Int32Array[]): Promise<{ vectors: Float32Array; dimensions: number }> {
    const packed = packBatch(inputs);
    const shape = [packed.batch, packed.sequenceLength];
    const feeds: Record<string, Tensor> = {};
    const names = this.#session.inputNames;
    if (names.includes("input_ids")) feeds.input_ids = new Tensor("int64", packed.inputIds, shape);
    if (names.includes("attention_mask"))
      feeds.attention_mask = new Tensor("int64", packed.attentionMask, shape);
    if (names.includes("token_type_ids"))
      feeds.token_type_ids = new Tensor("int64", packed.tokenTypeIds, shape);
    // Fetch only the output we pool: other outputs (a pooler head, say) would be copied for nothing.
    const results = await this.#session.run(feeds, [this.#outputName]);
    const output = results[this.#outputName];
    if (output === undefined || !(output instanceof Tensor)) {
      throw new BackendError("MODEL_UNSUPPORTED", `model returned no tensor ${this.#outputName}`);
    }
    const data = floatData(output);
    const dims = output.dims;
    if (this.#outputIsPooled || dims.length === 2) {
      return { vectors: data, dimensions: dims[1] ?? 0 };
    }
    const dimensions = dims[2] ?? 0;
    const hidden = { data, batch: dims[0] ?? 0, sequenceLength: dims[1] ?? 0, dimensions };
    return { vectors: poolHiddenStates(hidden, packed.lengths, this.#pooling), dimensions };
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.#session.release();
  }
}

function floatData(tensor: Tensor): Float32Array {
  if (tensor.type === "float32") return tensor.data as Float32Array;
  if (tensor.type === "float16") {
    const data = tensor.data;
    const bits = data instanceof Uint16Array ? data : new Uint16Array((data as ArrayBufferView).buffer);
    return halfToFloat32(bits);
  }
  throw new BackendError(
    "MODEL_UNSUPPORTED",
    `model output type ${tensor.type} is not supported (float32, float16)`,
  );
}
