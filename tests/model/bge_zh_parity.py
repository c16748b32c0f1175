"""bge-small-zh-v1.5 converted by tools/fetch-bge-small-zh: segstream against
ONNX Runtime on the original ONNX export.

Texts: the CJK lines of tokenizer_hard_cases.txt, chinese_sentences.txt,
50 StackOverflow titles and one text of all the Chinese sentences joined
(over 512 tokens, so truncated to max_seq_length 512). Token ids from `segstream tokenize` must equal those
of Hugging Face `tokenizers` on the jar's own tokenizer.json; embeddings from
`segstream encode` (CLS pooling, L2-normalised) must match ONNX Runtime's
normalised CLS output: cosine >= 0.9999 and max abs diff <= 1e-4 per text.
Usage: bge_zh_parity.py MODEL_DIR (the folder the fetch script printed)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

BIN = os.environ["SEGSTREAM_BIN"]
TESTDATA = os.environ["SEGSTREAM_TESTDATA"]
DATA = os.environ["SEGSTREAM_DATA_DIR"]
# Han, kana, Hangul and CJK punctuation / fullwidth forms.
CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                 "\uff00-\uffef\U00020000-\U0003ffff]")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def texts():
    hard = [t for t in read_lines(os.path.join(TESTDATA, "tokenizer_hard_cases.txt")) if CJK.search(t)]
    zh = [t for t in read_lines(os.path.join(TESTDATA, "chinese_sentences.txt")) if t]
    so = read_lines(os.path.join(DATA, "short-text-clustering", "StackOverflow.txt"))
    so = so[:: len(so) // 50][:50]  # spread over the file's 20 topics
    assert len(hard) >= 5 and len(zh) >= 50 and len(so) == 50, (len(hard), len(zh), len(so))
    # One text past 512 tokens: truncation and the last position embedding.
    long = "".join(zh)
    return hard + zh + so + [long]


def segstream(cmd, model, data):
    r = subprocess.run([BIN, cmd, "--model", model] + (["--format", "ndjson"] if cmd == "encode" else []),
                       input=data, capture_output=True, timeout=600)
    assert r.returncode == 0, f"segstream {cmd}: {r.stderr.decode()}"
    return [json.loads(x) for x in r.stdout.decode().splitlines()]


def main():
    model = sys.argv[1]
    src = os.path.join(model, "source")
    tok = Tokenizer.from_file(os.path.join(src, "bge-small-zh-v1.5-tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=512)
    sess = ort.InferenceSession(os.path.join(src, "bge-small-zh-v1.5.onnx"),
                                providers=["CPUExecutionProvider"])
    items = texts()
    data = "".join(t + "\n" for t in items).encode("utf-8")

    ours_ids = segstream("tokenize", model, data)
    assert len(ours_ids) == len(items), (len(ours_ids), len(items))
    assert len(ours_ids[-1]) == 512, f"long text: {len(ours_ids[-1])} tokens, expected 512 (truncated)"
    bad = 0
    for t, ids in zip(items, ours_ids):
        want = tok.encode(t).ids
        if ids != want:
            bad += 1
            print(f"token ids differ for {t!r}:\n  segstream {ids}\n  tokenizers {want}")
    assert bad == 0, f"{bad} of {len(items)} texts tokenize differently"

    ours = np.array(segstream("encode", model, data), dtype=np.float32)
    assert ours.shape == (len(items), 512), ours.shape
    worst_cos, worst_diff = 1.0, 0.0
    failures = 0
    for i, t in enumerate(items):
        e = tok.encode(t)
        feed = {"input_ids": np.array([e.ids], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
        cls = sess.run(["last_hidden_state"], feed)[0][0, 0].astype(np.float64)
        ref = cls / np.linalg.norm(cls)
        cos = float(ours[i].astype(np.float64) @ ref / np.linalg.norm(ours[i]))
        diff = float(np.abs(ours[i] - ref).max())
        worst_cos, worst_diff = min(worst_cos, cos), max(worst_diff, diff)
        if cos < 0.9999 or diff > 1e-4:
            failures += 1
            print(f"embedding differs for {t!r}: cosine {cos:.7f}, max abs diff {diff:.2e}")
    assert failures == 0, f"{failures} of {len(items)} embeddings differ"
    print(f"ok: {len(items)} texts, identical token ids, min cosine {worst_cos:.8f}, "
          f"max abs diff {worst_diff:.2e}")


if __name__ == "__main__":
    main()
