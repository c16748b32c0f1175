"""Converts the bge-small-zh-v1.5 ONNX export (from the langchain4j jar) and its
tokenizer.json into a Hugging Face sentence-transformers folder that
model/bert_config.c, model/bert_weights.c and model/tokenizer_config.c load.

The export keeps HF names for biases and LayerNorm parameters but names the
matmul weights "onnx::MatMul_NNN"; each one's role is recovered from the
MatMul node that consumes it (e.g. /encoder/layer.0/attention/self/query/MatMul),
and it is transposed from ONNX's [in, out] to HF Linear's [out, in].
Usage: bge_zh_convert.py MODEL.onnx TOKENIZER.json OUT_DIR
"""
import json
import os
import re
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper

LINEAR_ROLES = ["attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense"]


def die(msg):
    sys.exit(f"bge_zh_convert: {msg}")


def constant_values(graph):
    return {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
            for n in graph.node if n.op_type == "Constant"}


def map_tensors(graph):
    """HF name -> float32 array, each ONNX initializer used exactly once."""
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    out, used = {}, set()
    for name, arr in inits.items():
        if not name.startswith("onnx::"):
            out[name] = arr
            used.add(name)
    pat = re.compile(r"^/encoder/layer\.(\d+)/(.+)/MatMul$")
    for node in graph.node:
        m = pat.match(node.name) if node.op_type == "MatMul" else None
        if not m:
            continue
        role = m.group(2).replace("/", ".")
        if role not in LINEAR_ROLES:
            continue  # attention score / context matmuls have no weights
        weight = [i for i in node.input if i in inits]
        if len(weight) != 1:
            die(f"{node.name}: expected one weight initializer, got {weight}")
        hf = f"encoder.layer.{m.group(1)}.{role}.weight"
        if hf in out:
            die(f"{hf} found twice")
        if weight[0] in used:
            die(f"initializer {weight[0]} used by two roles")
        out[hf] = np.ascontiguousarray(inits[weight[0]].T)
        used.add(weight[0])
    unused = set(inits) - used
    if unused:
        die(f"initializers with no HF role: {sorted(unused)}")
    return out


def derive_config(graph, tensors, vocab_size):
    consts = constant_values(graph)
    layers = 1 + max(int(re.match(r"encoder\.layer\.(\d+)\.", k).group(1))
                     for k in tensors if k.startswith("encoder.layer."))
    hidden = tensors["embeddings.word_embeddings.weight"].shape[1]
    # Heads: the [batch, seq, heads, head_dim] shape the query is reshaped to.
    heads = None
    for n in graph.node:
        if n.name == "/encoder/layer.0/attention/self/Concat_2":
            dims = [int(consts[i].reshape(-1)[0]) for i in n.input if i in consts]
            heads, head_dim = dims
            if heads * head_dim != hidden:
                die(f"heads {heads} x head_dim {head_dim} != hidden {hidden}")
    # eps: the constant added to the variance in the embeddings' LayerNorm.
    eps = None
    for n in graph.node:
        if n.name == "/embeddings/LayerNorm/Add":
            # float32 constant; its shortest float32 repr (1e-12) is the value HF wrote
            eps = float(str(np.float32(next(consts[i] for i in n.input if i in consts))))
    if heads is None or eps is None:
        die("cannot find the head count or layer_norm_eps in the graph")
    if not any(n.op_type == "Erf" for n in graph.node):
        die("no Erf node: the activation is not erf-GELU")
    cfg = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": int(hidden),                # word_embeddings [vocab, hidden]
        "num_hidden_layers": int(layers),          # highest encoder.layer.N + 1
        "num_attention_heads": int(heads),         # query Reshape constant [.., heads, head_dim]
        "intermediate_size": int(tensors["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        "vocab_size": int(vocab_size),             # tokenizer.json vocab size == word_embeddings rows
        "max_position_embeddings": int(tensors["embeddings.position_embeddings.weight"].shape[0]),
        "type_vocab_size": int(tensors["embeddings.token_type_embeddings.weight"].shape[0]),
        "layer_norm_eps": eps,                     # LayerNorm/Add constant
        "hidden_act": "gelu",                      # Erf nodes: exact (erf) GELU
        "position_embedding_type": "absolute",
    }
    if tensors["embeddings.word_embeddings.weight"].shape[0] != vocab_size:
        die("tokenizer vocab size differs from word_embeddings rows")
    return cfg


def check_shapes(tensors, cfg):
    h, f = cfg["hidden_size"], cfg["intermediate_size"]
    want = {
        "embeddings.word_embeddings.weight": (cfg["vocab_size"], h),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for r in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            want[p + r + ".weight"], want[p + r + ".bias"] = (h, h), (h,)
        want[p + "intermediate.dense.weight"], want[p + "intermediate.dense.bias"] = (f, h), (f,)
        want[p + "output.dense.weight"], want[p + "output.dense.bias"] = (h, f), (h,)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            want[p + ln + ".weight"], want[p + ln + ".bias"] = (h,), (h,)
    if set(want) != set(tensors):
        die(f"tensor set differs: missing {sorted(set(want) - set(tensors))}, "
            f"extra {sorted(set(tensors) - set(want))}")
    for k, s in want.items():
        if tuple(tensors[k].shape) != s:
            die(f"{k}: shape {tensors[k].shape}, config implies {s}")


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    onnx_path, tok_path, out = sys.argv[1:4]
    tok = json.load(open(tok_path, encoding="utf-8"))
    if tok["model"]["type"] != "WordPiece" or tok["normalizer"]["type"] != "BertNormalizer":
        die("tokenizer.json is not a BERT WordPiece tokenizer")
    vocab = tok["model"]["vocab"]
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(vocab))):
        die("vocab ids are not 0..n-1")
    graph = onnx.load(onnx_path).graph
    tensors = map_tensors(graph)
    cfg = derive_config(graph, tensors, len(vocab))
    check_shapes(tensors, cfg)

    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    write_json(os.path.join(out, "config.json"), cfg)
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        for t, _ in by_id:
            f.write(t + "\n")
    norm = tok["normalizer"]
    lower = bool(norm["lowercase"])
    # BertNormalizer: strip_accents null follows lowercase, as BertTokenizer's does.
    strip = lower if norm.get("strip_accents") is None else bool(norm["strip_accents"])
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lower, "strip_accents": strip,
        "tokenize_chinese_chars": bool(norm["handle_chinese_chars"]),
        "unk_token": tok["model"]["unk_token"], "cls_token": "[CLS]", "sep_token": "[SEP]",
        "pad_token": "[PAD]", "mask_token": "[MASK]",
        "model_max_length": cfg["max_position_embeddings"],
    })
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": 512, "do_lower_case": False})
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["hidden_size"],
        "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
    })
    print(json.dumps(cfg), file=sys.stderr)


if __name__ == "__main__":
    main()
