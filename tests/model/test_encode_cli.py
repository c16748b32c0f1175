"""`segstream encode` end to end: .npy and NDJSON output against the parity fixture.

Runs the real executable on the first 300 fixture texts (and the empty text),
checks the .npy header (numpy reads it: dtype <f4, shape (n, 384)), every
value against the ONNX Runtime reference (max abs diff <= 1e-4), that NDJSON
carries the same numbers, and that usage errors exit 2 and a missing model
folder exits 1 naming the file it looked for."""
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

BIN = os.environ["SEGSTREAM_BIN"]
MODEL = os.environ["SEGSTREAM_MODEL_DIR"]
DATA = os.environ["SEGSTREAM_TESTDATA"]


def run(args, stdin=b""):
    return subprocess.run([BIN, "encode"] + args, input=stdin, capture_output=True, timeout=600)


def main():
    with open(os.path.join(DATA, "encoder_reference.txt"), "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    ref = np.fromfile(os.path.join(DATA, "encoder_reference.f32"), dtype="<f4").reshape(len(lines), 384)
    pick = list(range(300)) + [len(lines) - 1]  # ... and the empty text
    stdin = b"".join(lines[i] + b"\n" for i in pick)

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "e.npy")
        r = run(["--model", MODEL, "--threads", "2", "--batch-tokens", "300", "-o", out], stdin)
        assert r.returncode == 0, r.stderr.decode()
        with open(out, "rb") as f:
            raw = f.read()
        assert raw[:8] == b"\x93NUMPY\x01\x00", raw[:8]
        assert (10 + int.from_bytes(raw[8:10], "little")) % 64 == 0
        emb = np.load(out)
        assert emb.dtype == np.dtype("<f4") and emb.shape == (len(pick), 384), (emb.dtype, emb.shape)
        diff = np.abs(emb - ref[pick]).max()
        assert diff <= 1e-4, f"npy: max abs diff {diff}"

    r = run(["--model", MODEL, "--threads", "2", "--batch-tokens", "300", "--format", "ndjson"], stdin)
    assert r.returncode == 0, r.stderr.decode()
    rows = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert len(rows) == len(pick)
    nd = np.array(rows, dtype=np.float32)
    assert np.array_equal(nd, emb), "ndjson and npy differ (same batching: must be bit-identical)"

    # int8: close to the fp32 reference (model/encoder.h; thresholds as in
    # test_encoder_parity.c: the empty text is the worst, ~0.990), and its
    # embeddings do not depend on the batching (exact integer matmuls)
    r = run(["--model", MODEL, "--threads", "2", "--batch-tokens", "300", "--precision", "int8"], stdin)
    assert r.returncode == 0, r.stderr.decode()
    q = np.load(io.BytesIO(r.stdout))
    cos = (q * ref[pick]).sum(axis=1)
    assert cos.min() >= 0.985 and cos.mean() >= 0.997, f"int8: cosine min {cos.min()}, mean {cos.mean()}"
    r = run(["--model", MODEL, "--threads", "2", "--batch-tokens", "64", "--precision", "int8"], stdin)
    assert r.returncode == 0, r.stderr.decode()
    assert np.array_equal(np.load(io.BytesIO(r.stdout)), q), "int8: another token budget changed the bytes"
    r = run(["--model", MODEL, "--precision", "fp16"], b"x\n")
    assert r.returncode == 2 and b"--precision" in r.stderr

    r = run(["--model", MODEL], b"")  # no input: an empty (0, 384) array
    assert r.returncode == 0 and np.load(io.BytesIO(r.stdout)).shape == (0, 384)
    r = run(["--format", "csv", "--model", MODEL])
    assert r.returncode == 2 and b"--format" in r.stderr
    r = run([])
    assert r.returncode == 2 and b"--model" in r.stderr
    r = run(["--model", "/nonexistent/model"], b"x\n")
    assert r.returncode == 1 and b"/nonexistent/model/config.json" in r.stderr, r.stderr
    print(f"ok: {len(pick)} texts, max abs diff {diff:.2e}; int8 cosine min {cos.min():.4f} mean {cos.mean():.4f}")


if __name__ == "__main__":
    sys.exit(main())
