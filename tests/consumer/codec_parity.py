"""Parity of the C codec with fastavro (the reference Avro implementation here).

1. Parsing Canonical Form and CRC-64-AVRO fingerprint of every schemas/*.avsc and of
   a set of tricky schemas (namespaces, references, fixed, maps, unions, logical types).
2. Records encoded by C (single-object framing) decode in fastavro: header checked,
   body read with schemaless_reader.
3. Records encoded by fastavro (header + schemaless_writer) decode in C.
4. Avro container files (codecs null and deflate) written by C read in fastavro, and
   written by fastavro read in C.
Records are random but seeded: nulls, negative and extreme numbers, non-ASCII text.

usage: python codec_parity.py <codec_tool> <schemas dir>
"""
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

from fastavro import reader, schemaless_reader, schemaless_writer, writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

TOOL, SCHEMAS = sys.argv[1], sys.argv[2]
TYPES = ["interest_change", "segment_change", "segment"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, stdin=""):
    return subprocess.run([TOOL] + args, input=stdin, capture_output=True, text=True, check=True).stdout


def reference(schema_json):
    pcf = to_parsing_canonical_form(parse_schema(json.loads(schema_json)))
    return fingerprint(pcf, "CRC-64-AVRO"), pcf


# 1. canonical forms and fingerprints
for t in TYPES:
    fp, pcf = run(["schema", t]).rstrip("\n").split(" ", 1)
    with open(f"{SCHEMAS}/{t}.avsc") as f:
        ref_fp, ref_pcf = reference(f.read())
    check(pcf == ref_pcf, f"{t}: canonical form\n  C:        {pcf}\n  fastavro: {ref_pcf}")
    check(fp == ref_fp, f"{t}: fingerprint C {fp} fastavro {ref_fp}")
    print(f"{t}: fingerprint {fp} matches fastavro" if fp == ref_fp else "")

TRICKY = [
    '"string"',
    '{"type": "int", "logicalType": "date"}',
    '{"type": "record", "name": "R", "namespace": "a.b", "doc": "d", "aliases": ["X"], "fields": ['
    ' {"name": "f", "type": {"type": "fixed", "name": "F", "size": 16}, "doc": "x"},'
    ' {"name": "g", "type": {"type": "enum", "name": "E", "namespace": "c", "symbols": ["X", "Y"], "default": "X"}},'
    ' {"name": "h", "type": ["null", "F", "c.E", {"type": "map", "values": {"type": "long"}}], "default": null},'
    ' {"name": "i", "type": {"type": "array", "items": {"type": "record", "name": "x.S", "fields": ['
    '    {"name": "k", "type": ["null", "x.S"]}]}}},'
    ' {"name": "j", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}}]}',
    '{"type": "record", "name": "Outer", "fields": [{"name": "in", "type": {"type": "record", "name": "Inner",'
    ' "namespace": "", "fields": [{"name": "s", "type": "string", "default": "\\u00e9"}]}},'
    ' {"name": "again", "type": "Inner"}]}',
    '["null", "int", {"type": "array", "items": "double"}]',
]
for schema in TRICKY:
    out = subprocess.run([TOOL, "pcf"], input=schema, capture_output=True, text=True)
    if out.returncode != 0:
        check(False, f"pcf failed on {schema}: {out.stderr}")
        continue
    fp, pcf = out.stdout.rstrip("\n").split(" ", 1)
    ref_fp, ref_pcf = reference(schema)
    check(pcf == ref_pcf and fp == ref_fp, f"tricky schema\n  C:        {pcf} {fp}\n  fastavro: {ref_pcf} {ref_fp}")
print(f"{len(TRICKY)} further schemas: canonical forms and fingerprints compared")

# 2 and 3. records both ways
rng = random.Random(20261127)
WORDS = ["hiking", "sourdough", "jazz", "小说", "科幻电影", "Ünïcödé", "emoji 🎸", "tab\tquote\"back\\slash", "", "a" * 300]


def text():
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))


def maybe(v):
    return None if rng.random() < 0.4 else v


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def big():
    return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.randint(-(2**40), 2**40)])


def sample(t):
    if t == "interest_change":
        return {"event_id": f"e{rng.randint(0, 10**9)}", "user_id": text(), "event_time": big(),
                "op": rng.choice(["SET", "ADD", "DELETE"]), "text": maybe(text()), "source": maybe(text()),
                "locale": maybe(rng.choice(["en", "zh-CN", "de"]))}
    if t == "segment_change":
        seg = maybe(big())
        return {"event_id": text(), "user_id": text(), "event_time": big(), "previous_segment": maybe(big()),
                "segment": seg, "similarity": None if seg is None else f32(rng.uniform(-1, 1)),
                "cause": rng.choice(["INTEREST_CHANGED", "MODEL_UPDATED", "EXPIRED", "DELETED"]),
                "model_version": big(), "source_topic": "interest-changes",
                "source_partition": rng.choice([0, 7, 2**31 - 1, -(2**31)]), "source_offset": big()}
    return {"segment_id": big(), "status": rng.choice(["ACTIVE", "RETIRED"]),
            "label": [text() for _ in range(rng.randint(0, 5))], "size": rng.uniform(0, 1e6),
            "parent": maybe(big()), "created_time": big(), "updated_time": big(), "model_version": big(),
            "centroid": maybe([f32(rng.gauss(0, 0.1)) for _ in range(rng.choice([0, 3, 384]))])}


for t in TYPES:
    with open(f"{SCHEMAS}/{t}.avsc") as f:
        text_ = f.read()
    header = b"\xc3\x01" + bytes.fromhex(reference(text_)[0])
    # timestamp-millis would come back as datetime; the binary form is the same long.
    parsed = parse_schema(json.loads(text_.replace('"logicalType": "timestamp-millis"', '"x": 0')))
    records = [sample(t) for _ in range(200)]

    # C encodes -> fastavro decodes
    lines = run(["encode", t], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)).splitlines()
    check(len(lines) == len(records), f"{t}: C encoded {len(lines)} of {len(records)}")
    ok = 0
    for rec, hexline in zip(records, lines):
        data = bytes.fromhex(hexline)
        check(data[:10] == header, f"{t}: header {data[:10].hex()} != {header.hex()}")
        stream = io.BytesIO(data[10:])
        got = schemaless_reader(stream, parsed, parsed)
        check(stream.read() == b"", f"{t}: fastavro left bytes unread")
        if got == rec:
            ok += 1
        else:
            check(False, f"{t}: C->fastavro\n  sent {rec}\n  got  {got}")
    print(f"{t}: {ok}/{len(records)} C-encoded records read back by fastavro")

    # fastavro encodes -> C decodes
    hexes = []
    for rec in records:
        out = io.BytesIO()
        schemaless_writer(out, parsed, rec)
        hexes.append((header + out.getvalue()).hex())
    lines = run(["decode"], "".join(h + "\n" for h in hexes)).splitlines()
    ok = 0
    for rec, line in zip(records, lines):
        name, _, body = line.partition(" ")
        if name == t and json.loads(body) == rec:
            ok += 1
        else:
            check(False, f"{t}: fastavro->C\n  sent {rec}\n  got  {line}")
    print(f"{t}: {ok}/{len(records)} fastavro-encoded records read back by C")

    # container files both ways
    with tempfile.TemporaryDirectory() as tmp:
        for codec in ["null", "deflate"]:
            path = os.path.join(tmp, f"c-{t}-{codec}.avro")
            run(["write-file", t, path, codec], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            with open(path, "rb") as f:
                got = list(reader(f, parsed))
            check(got == records, f"{t}: C-written {codec} container file differs in fastavro")
            path = os.path.join(tmp, f"py-{t}-{codec}.avro")
            with open(path, "wb") as f:
                writer(f, json.loads(text_), records, codec=codec, sync_interval=2000)
            lines = run(["read-file", path]).splitlines()
            check([json.loads(x) for x in lines] == records, f"{t}: fastavro-written {codec} file differs in C")
    print(f"{t}: container files (null, deflate) equal both ways")

if failures:
    print(f"{len(failures)} parity failures")
    sys.exit(1)
print("parity: all equal")
