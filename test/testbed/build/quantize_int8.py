"""int8 quantization of the testbed model whose result depends on each token alone.

onnxruntime's dynamic quantization (quantize_dynamic) takes one activation scale per tensor, that is
from every text of a batch and its padding: the same text embedded alone and in a batch then differs
(up to 1 - cos = 0.03 measured). Static quantization fixes the scales by calibration instead, but one
fixed scale per tensor cannot follow this model's activation outliers (measured: worst-case cosine
to fp32 of 0.76 with MinMax calibration on the reference texts).

So every linear layer (a MatMul with constant weights, nearly all of the compute) is rewritten as
per-token dynamic quantization with standard ONNX operators: each token's activation row gets its own
scale (max |x| / 127, zero point 128, uint8), the weights are int8 with one scale per output channel,
MatMulInteger multiplies exactly in int32, and the result is rescaled by row scale x channel scale.
A token's quantized values then depend on that token's row only, never on the other texts of a batch,
and the scale follows each token's own range. Attention scores, softmax, LayerNorm and GELU stay
float32.
"""
import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

METHOD = "per-token dynamic uint8 activations, per-channel int8 weights (MatMulInteger), linear layers only"


def _constant(graph_inits, name, array):
    graph_inits.append(numpy_helper.from_array(array, name))
    return name


def _quantized_linear(node, weight, inits, prefix):
    """Nodes computing node's MatMul(x, weight) with per-token activation quantization."""
    x, y = node.input[0], node.output[0]
    channel_scale = np.maximum(np.abs(weight).max(axis=0), 1e-12).astype(np.float32) / 127.0
    weight_q = np.clip(np.round(weight / channel_scale), -127, 127).astype(np.int8)
    w_q = _constant(inits, f"{prefix}_w_int8", weight_q)
    w_scale = _constant(inits, f"{prefix}_w_scale", channel_scale)
    n = lambda suffix: f"{prefix}_{suffix}"  # noqa: E731
    return [
        # One scale per token row: max |x| / 127 (floored, so an all-zero row stays zero).
        helper.make_node("Abs", [x], [n("abs")]),
        helper.make_node("ReduceMax", [n("abs")], [n("absmax")], axes=[-1], keepdims=1),  # opset 17
        helper.make_node("Mul", [n("absmax"), "qt_inv127"], [n("scale0")]),
        helper.make_node("Max", [n("scale0"), "qt_tiny"], [n("scale")]),
        # QuantizeLinear per axis 0 of the [tokens, K] view: one fused, saturating pass per row.
        helper.make_node("Shape", [x], [n("shape")]),
        helper.make_node("Reshape", [x, _constant(inits, f"{prefix}_rows_by_k", np.array([-1, weight.shape[0]], dtype=np.int64))], [n("rows")]),
        helper.make_node("Reshape", [n("scale"), "qt_flat"], [n("row_scale")]),
        helper.make_node("Shape", [n("row_scale")], [n("row_count")]),
        helper.make_node("Expand", ["qt_zero_u8", n("row_count")], [n("row_zero")]),
        helper.make_node("QuantizeLinear", [n("rows"), n("row_scale"), n("row_zero")], [n("x_u8")], axis=0),
        helper.make_node("MatMulInteger", [n("x_u8"), w_q, "qt_zero_u8"], [n("acc")]),
        helper.make_node("Cast", [n("acc")], [n("acc_f")], to=TensorProto.FLOAT),
        helper.make_node("Reshape", [n("row_scale"), "qt_col"], [n("row_scale_col")]),
        helper.make_node("Mul", [n("acc_f"), n("row_scale_col")], [n("row_scaled")]),
        helper.make_node("Mul", [n("row_scaled"), w_scale], [n("out_rows")]),
        # Back to [..., N]: the input's shape with its last dimension replaced by N.
        helper.make_node("Slice", [n("shape"), "qt_start", "qt_minus1"], [n("lead")]),
        helper.make_node("Concat", [n("lead"), _constant(inits, f"{prefix}_n", np.array([weight.shape[1]], dtype=np.int64))], [n("out_shape")], axis=0),
        helper.make_node("Reshape", [n("out_rows"), n("out_shape")], [y]),
    ]


def quantize(fp32_path, int8_path):
    """Writes the per-token quantized copy of `fp32_path`."""
    model = onnx.load(fp32_path)
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    inits = []
    _constant(inits, "qt_inv127", np.array(1.0 / 127.0, dtype=np.float32))
    _constant(inits, "qt_tiny", np.array(1e-12, dtype=np.float32))
    _constant(inits, "qt_zero_u8", np.array(128, dtype=np.uint8))
    _constant(inits, "qt_flat", np.array([-1], dtype=np.int64))
    _constant(inits, "qt_col", np.array([-1, 1], dtype=np.int64))
    _constant(inits, "qt_start", np.array([0], dtype=np.int64))
    _constant(inits, "qt_minus1", np.array([-1], dtype=np.int64))
    nodes, replaced = [], set()
    for index, node in enumerate(graph.node):
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        nodes.extend(_quantized_linear(node, numpy_helper.to_array(weight).astype(np.float32), inits, f"qt{index}"))
        replaced.add(weight.name)
    kept = [init for init in graph.initializer if init.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept + inits)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, int8_path)
    return len(replaced)


def feeds_for(tokenizer, texts, max_length):
    """One unpadded batch-of-one model input per text."""
    feeds = []
    for text in texts:
        ids = np.array([tokenizer(text, truncation=True, max_length=max_length)["input_ids"]], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return feeds


def pooled(session, feeds):
    """Mean-pooled, L2-normalised vectors of a list of batch-of-one inputs, run one by one."""
    vectors = []
    for feed in feeds:
        vector = session.run(["last_hidden_state"], feed)[0][0].mean(axis=0)
        vectors.append(vector / np.linalg.norm(vector))
    return np.stack(vectors)


def padded_batch_vectors(session, feeds):
    """The same inputs run as one right-padded batch, pooled over each text's own tokens."""
    lengths = [feed["input_ids"].shape[1] for feed in feeds]
    ids = np.zeros((len(feeds), max(lengths)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, feed in enumerate(feeds):
        ids[row, : lengths[row]] = feed["input_ids"][0]
        mask[row, : lengths[row]] = 1
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    hidden = session.run(["last_hidden_state"], feed)[0]
    vectors = np.stack([hidden[row, : lengths[row]].mean(axis=0) for row in range(len(feeds))])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def report(fp32_path, int8_path, feeds):
    """int8 versus fp32 cosines over the texts, and the largest change from batching 32 of them."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    fp32 = onnxruntime.InferenceSession(fp32_path, options, providers=["CPUExecutionProvider"])
    int8 = onnxruntime.InferenceSession(int8_path, options, providers=["CPUExecutionProvider"])
    cosines = np.sum(pooled(fp32, feeds) * pooled(int8, feeds), axis=1)
    batch_change = np.abs(pooled(int8, feeds[:32]) - padded_batch_vectors(int8, feeds[:32])).max()
    return {
        "cosine_to_fp32": {"texts": len(feeds), "min": round(float(cosines.min()), 6),
                           "mean": round(float(cosines.mean()), 6)},
        "batch_of_32_vs_alone_max_abs_difference": float(batch_change),
    }
