"""bench_encoder_ort.py - the ONNX Runtime peer of the encoder benchmark (tools/bench-encoder).

Runs all-MiniLM-L6-v2's ONNX export (tools/fetch-onnx-model) the way a careful
Python user would: ONNX Runtime's CPU provider with ORT_ENABLE_ALL,
intra_op_num_threads = --threads, inter_op 1, sequential execution; Hugging
Face `tokenizers` with the model's tokenizer.json (truncation 256, no padding;
its Rust thread pool limited to --threads); texts sorted by token count and cut
into batches of B, each padded to its longest text (the attention mask hides
the padding); mean pooling over the mask and L2 normalisation in numpy.
Passes mirror tools/bench/bench_encoder.c and it prints one JSON line:
  full   texts -> embeddings (tokenize, sort, pad, run, pool, normalise)
  model  token ids -> embeddings (sort, pad, run, pool, normalise)
  model at batches 8/32/128 (one pass each) to find ORT's best batch size,
  then full at 32 and at that best size
  lat16, latreal   batch-1 latency, text -> embedding, as in the C bench
With --compare FILE (segstream's embeddings, n x 384 f32) it only computes its
own full-path embeddings (batch --batch) and prints the min cosine between the
two peers, no timing.
"""
import argparse
import json
import os
import sys
import time


def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="the sentence-transformers folder (tokenizer.json)")
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32, help="the padded batch of the main rows")
    ap.add_argument("--batches", default="8,32,128", help="batch sizes tried for ORT's best")
    ap.add_argument("--latency-texts", type=int, default=500)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--spin", type=int, default=1, help="0: intra-op threads sleep when idle")
    ap.add_argument("--compare", help="segstream's embeddings (.f32) for the cosine check")
    ap.add_argument("--peer", default="ort", help="the name of this peer in the JSON (ort-int8 for a quantized model)")
    a = ap.parse_args()

    # before importing tokenizers: its Rust pool reads this once
    os.environ["RAYON_RS_NUM_CPUS"] = str(a.threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if a.threads > 1 else "false"
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    texts = []
    with open(a.texts, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line:
                texts.append(line)
            if len(texts) == a.n:
                break
    rss_start = status_kib("VmRSS")

    t_open = time.perf_counter()
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", str(a.spin))
    sess = ort.InferenceSession(a.onnx, opts, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name  # last hidden state [B, L, 384]
    t_open = time.perf_counter() - t_open
    rss_loaded = status_kib("VmRSS")

    def embed_ids(ids, batch):
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), 384), dtype=np.float32)
        for s in range(0, len(order), batch):
            rows = order[s:s + batch]
            width = max(len(ids[i]) for i in rows)
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, :len(ids[i])] = ids[i]
                mask[r, :len(ids[i])] = 1
            hidden = sess.run([out_name], {"input_ids": input_ids, "attention_mask": mask,
                                           "token_type_ids": np.zeros_like(input_ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(1) / m.sum(1)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    def embed_texts(batch_texts, batch):
        return embed_ids([e.ids for e in tok.encode_batch(batch_texts)], batch)

    ids = [e.ids for e in tok.encode_batch(texts)]
    tokens = sum(len(x) for x in ids)
    padded = lambda batch: sum(
        len(batch_rows) * max(len(ids[i]) for i in batch_rows)
        for order in [sorted(range(len(ids)), key=lambda i: len(ids[i]))]
        for batch_rows in (order[s:s + batch] for s in range(0, len(order), batch)))

    def timed(fn, *args):
        """(wall s, CPU s of all the process's threads) of fn(*args)."""
        t0, c0 = time.perf_counter(), time.process_time()
        fn(*args)
        return time.perf_counter() - t0, time.process_time() - c0

    embed_texts(texts[:64], a.batch)  # warm-up
    result = {"peer": a.peer, "threads": a.threads, "texts": len(texts), "tokens": tokens,
              "ort_version": ort.__version__, "open_s": round(t_open, 4)}
    if a.compare:
        seg = np.fromfile(a.compare, dtype="<f4").reshape(-1, 384)
        mine = embed_texts(texts, a.batch)
        if seg.shape[0] != len(texts):
            sys.exit(f"{a.compare}: {seg.shape[0]} rows, expected {len(texts)}")
        cos = (seg.astype(np.float64) * mine).sum(1) / (
            np.linalg.norm(seg.astype(np.float64), axis=1) * np.linalg.norm(mine.astype(np.float64), axis=1))
        result["min_cosine"] = float(cos.min())
        result["argmin_cosine"] = int(cos.argmin())
        result["mean_cosine"] = float(cos.mean())
        print(json.dumps(result))
        return

    sizes = sorted({int(b) for b in a.batches.split(",")} | {a.batch})
    model_runs = {b: [timed(embed_ids, ids, b) for _ in range(a.reps)] for b in sizes}
    model_s = {b: min(w for w, _ in runs) for b, runs in model_runs.items()}
    model_cpu = {b: min(c for _, c in runs) for b, runs in model_runs.items()}
    best = min(model_s, key=model_s.get)
    full_runs = {b: [timed(embed_texts, texts, b) for _ in range(a.reps)] for b in sorted({a.batch, best})}
    full_s = {b: min(w for w, _ in runs) for b, runs in full_runs.items()}
    full_cpu = {b: min(c for _, c in runs) for b, runs in full_runs.items()}
    result.update({
        "batch": a.batch, "best_batch": best,
        "model_s": model_s[a.batch], "full_s": full_s[a.batch],
        "best_model_s": model_s[best], "best_full_s": full_s[best],
        "model_cpu_s": model_cpu[a.batch], "full_cpu_s": full_cpu[a.batch],
        "best_model_cpu_s": model_cpu[best], "best_full_cpu_s": full_cpu[best],
        "model_s_by_batch": {str(b): model_s[b] for b in sizes},
        "padded_tokens": padded(a.batch), "best_padded_tokens": padded(best),
    })

    def latencies(batch_texts):
        ms = []
        for t in batch_texts:
            t0 = time.perf_counter()
            embed_texts([t], 1)
            ms.append((time.perf_counter() - t0) * 1e3)
        return np.array(ms)

    i16 = next((i for i, x in enumerate(ids) if len(x) == 16), -1)
    result["text16_index"] = i16
    if i16 >= 0:
        latencies([texts[i16]] * 20)
        runs = [latencies([texts[i16]] * 300) for _ in range(a.reps)]
        result["lat16_p50_ms"] = min(float(np.percentile(r, 50, method="inverted_cdf")) for r in runs)
        result["lat16_p99_ms"] = min(float(np.percentile(r, 99, method="inverted_cdf")) for r in runs)
    k = min(a.latency_texts, len(texts))
    if k:
        runs = [latencies(texts[:k]) for _ in range(a.reps)]
        result.update({
            "latreal_texts": k, "latreal_tokens": sum(len(x) for x in ids[:k]),
            "latreal_p50_ms": min(float(np.percentile(r, 50, method="inverted_cdf")) for r in runs),
            "latreal_p99_ms": min(float(np.percentile(r, 99, method="inverted_cdf")) for r in runs),
            "latreal_mean_ms": min(float(r.mean()) for r in runs),
        })
    result.update({"rss_start_kib": rss_start, "rss_loaded_kib": rss_loaded, "hwm_kib": status_kib("VmHWM")})
    print(json.dumps(result))


main()
