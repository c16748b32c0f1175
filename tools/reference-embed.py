#!/usr/bin/env python3
"""reference-embed.py - DEV-ONLY reference: sentence embeddings with a numpy BERT forward pass.

Not part of the product (the product encoder is `segstream encode`, written in C on
oneDNN). This script exists so that cluster/ and tools/eval-clustering can be developed
and checked before the C encoder lands: it reads a sentence-transformers BERT folder
(config.json, tokenizer.json, model.safetensors), tokenises with Hugging Face
`tokenizers`, runs the encoder in float32 numpy, mean-pools over the attention mask and
L2-normalises, and writes an (n, d) float32 .npy file.

usage: reference-embed.py --model DIR --texts FILE -o OUT.npy [--batch 64]
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
from tokenizers import Tokenizer


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    # BERT's exact (erf) GELU
    from scipy.special import erf
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def encode(ids, mask, W, cfg):
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    B, T = ids.shape
    h = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:T][None] \
        + W["embeddings.token_type_embeddings.weight"][0][None, None]
    h = layer_norm(h, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    D = h.shape[-1]
    hd = D // heads
    bias = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda x, n: x @ W[p + n + ".weight"].T + W[p + n + ".bias"]
        q = lin(h, "attention.self.query").reshape(B, T, heads, hd).transpose(0, 2, 1, 3)
        k = lin(h, "attention.self.key").reshape(B, T, heads, hd).transpose(0, 2, 1, 3)
        v = lin(h, "attention.self.value").reshape(B, T, heads, hd).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        h = layer_norm(lin(a, "attention.output.dense") + h, W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        f = lin(gelu(lin(h, "intermediate.dense")), "output.dense")
        h = layer_norm(f + h, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    m = mask[..., None].astype(np.float32)
    pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=256)
    args = ap.parse_args()
    cfg = json.load(open(f"{args.model}/config.json"))
    W = load_safetensors(f"{args.model}/model.safetensors")
    tok = Tokenizer.from_file(f"{args.model}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(args.max_tokens)
    with open(args.texts, encoding="utf-8-sig", errors="replace") as f:
        texts = [line.rstrip("\n") for line in f]
    encs = tok.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
    out = np.zeros((len(texts), cfg["hidden_size"]), dtype=np.float32)
    for s in range(0, len(order), args.batch):
        idx = order[s:s + args.batch]
        T = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), T), dtype=np.int64)
        mask = np.zeros((len(idx), T), dtype=np.int64)
        for r, i in enumerate(idx):
            e = encs[i].ids
            ids[r, :len(e)] = e
            mask[r, :len(e)] = 1
        out[idx] = encode(ids, mask, W, cfg)
        if s // args.batch % 50 == 0:
            print(f"{s}/{len(order)}", file=sys.stderr)
    np.save(args.out, out)


if __name__ == "__main__":
    main()
