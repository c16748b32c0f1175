"""Codec speed, C (bench_codec) next to fastavro (its compiled Cython path), on the
same records: single-object encoding (header + body) and decoding (header check +
body). One machine, one run, single thread.

usage: python bench_codec.py <bench_codec binary> <schemas dir> [records]
"""
import io
import json
import random
import struct
import subprocess
import sys
import time

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

BENCH, SCHEMAS = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
rng = random.Random(7)
WORDS = ["hiking", "sourdough", "jazz", "小说", "科幻电影", "photography", "marathon", "vegan cooking"]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def sample(t, i):
    if t == "interest_change":
        return {"event_id": f"evt-{i}", "user_id": f"user-{i % 5000}", "event_time": 1764255600000 + i,
                "op": "SET", "text": " ".join(rng.choice(WORDS) for _ in range(12)), "source": "bench",
                "locale": None}
    return {"segment_id": i, "status": "ACTIVE", "label": rng.sample(WORDS, 5), "size": 1000.5,
            "parent": None, "created_time": 1, "updated_time": 2, "model_version": 3,
            "centroid": [f32(rng.gauss(0, 0.05)) for _ in range(384)]}


print(f"{'record':16} {'impl':9} {'encode rec/s':>13} {'decode rec/s':>13} {'bytes/rec':>10}")
for t in ["interest_change", "segment"]:
    n = N if t == "interest_change" else N // 10
    recs = [sample(t, i) for i in range(n)]
    rounds = 5
    out = subprocess.run([BENCH, t, str(rounds)], input="".join(json.dumps(r) + "\n" for r in recs),
                         capture_output=True, text=True, check=True).stdout.split()
    count, nbytes, enc_s, dec_s = int(out[0]), int(out[1]), float(out[2]), float(out[3])
    print(f"{t:16} {'C':9} {count / enc_s:13,.0f} {count / dec_s:13,.0f} {nbytes / count:10.1f}")

    with open(f"{SCHEMAS}/{t}.avsc") as f:
        text = f.read()
    schema = parse_schema(json.loads(text.replace('"logicalType": "timestamp-millis"', '"x": 0')))
    header = b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(parse_schema(json.loads(text))),
                                                      "CRC-64-AVRO"))
    t0 = time.perf_counter()
    for _ in range(rounds):
        encoded = []
        for r in recs:
            buf = io.BytesIO()
            buf.write(header)
            schemaless_writer(buf, schema, r)
            encoded.append(buf.getvalue())
    t1 = time.perf_counter()
    for _ in range(rounds):
        for e in encoded:
            assert e[:10] == header
            schemaless_reader(io.BytesIO(e[10:]), schema, schema)
    t2 = time.perf_counter()
    total = n * rounds
    print(f"{t:16} {'fastavro':9} {total / (t1 - t0):13,.0f} {total / (t2 - t1):13,.0f} "
          f"{sum(map(len, encoded)) / n:10.1f}")
