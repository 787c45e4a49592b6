"""Static int8 quantization of the testbed model, so a vector depends on its text alone.

Dynamic quantization (onnxruntime's quantize_dynamic) computes each activation's scale from the whole
input tensor, that is from every text of a batch and its padding: the same text embedded alone and in
a batch then differs (up to 1 - cos = 0.03 measured). Here the activation scales are fixed once, by
calibration on a fixed set of texts, and the weights are quantized per output channel, so every
quantized value depends only on its own token's row. Only the MatMuls with constant weights (the
linear layers, which hold nearly all of the compute) are quantized; attention scores, softmax,
LayerNorm and GELU stay float32.
"""
import os
import tempfile

import numpy as np
import onnxruntime
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

# Percentile calibration clips the rare activation outliers that MinMax would stretch every scale
# for; it measured the better worst case on the held-out reference texts.
CALIBRATION_METHOD = CalibrationMethod.Percentile


class TextCalibration(CalibrationDataReader):
    """Feeds one text per run, unpadded, so padding never shapes an activation range."""

    def __init__(self, feeds):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def feeds_for(tokenizer, texts, max_length):
    """One unpadded batch-of-one model input per text."""
    feeds = []
    for text in texts:
        ids = np.array([tokenizer(text, truncation=True, max_length=max_length)["input_ids"]], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return feeds


def quantize(fp32_path, int8_path, calibration_feeds):
    """Writes the statically quantized copy of `fp32_path` (QDQ format, per-channel weights)."""
    with tempfile.TemporaryDirectory() as scratch:
        prepared = os.path.join(scratch, "prepared.onnx")
        quant_pre_process(fp32_path, prepared)
        quantize_static(
            prepared,
            int8_path,
            TextCalibration(calibration_feeds),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CALIBRATION_METHOD,
            extra_options={"MatMulConstBOnly": True, "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}},
        )


def pooled(session, feeds):
    """Mean-pooled, L2-normalised vectors of a list of batch-of-one inputs, run one by one."""
    vectors = []
    for feed in feeds:
        hidden = session.run(["last_hidden_state"], feed)[0][0]
        vector = hidden.mean(axis=0)
        vectors.append(vector / np.linalg.norm(vector))
    return np.stack(vectors)


def padded_batch_vectors(session, feeds):
    """The same inputs run as one right-padded batch, pooled over each text's own tokens."""
    lengths = [feed["input_ids"].shape[1] for feed in feeds]
    longest = max(lengths)
    ids = np.zeros((len(feeds), longest), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, feed in enumerate(feeds):
        ids[row, : lengths[row]] = feed["input_ids"][0]
        mask[row, : lengths[row]] = 1
    hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                  "token_type_ids": np.zeros_like(ids)})[0]
    vectors = np.stack([hidden[row, : lengths[row]].mean(axis=0) for row in range(len(feeds))])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def report(fp32_path, int8_path, feeds, held_out):
    """int8 versus fp32 cosines (all texts and the held-out ones) and a batch-independence check."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    fp32 = onnxruntime.InferenceSession(fp32_path, options, providers=["CPUExecutionProvider"])
    int8 = onnxruntime.InferenceSession(int8_path, options, providers=["CPUExecutionProvider"])
    cosines = np.sum(pooled(fp32, feeds) * pooled(int8, feeds), axis=1)
    alone = pooled(int8, feeds[:32])
    batched = padded_batch_vectors(int8, feeds[:32])

    def summary(values):
        return {"texts": int(len(values)), "min": round(float(values.min()), 6), "mean": round(float(values.mean()), 6)}

    return {
        "cosine_to_fp32": summary(cosines),
        "cosine_to_fp32_held_out": summary(cosines[held_out]),
        "batch_vs_alone_max_abs_difference": float(np.abs(alone - batched).max()),
    }
