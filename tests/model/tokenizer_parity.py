"""Diffs `segstream tokenize` against tools/tokenizer-reference (Hugging Face
`tokenizers`) line by line on one named data set; prints the first mismatches
with their line number, the text and both id lists, and fails on any.

Data sets: stackoverflow, searchsnippets (short-text-clustering), movies
("liked: <title> - <genres>" from MovieLens movies.csv), tags (tags.csv tag
column), hard-cases and invalid-utf8 (tests/data), random (seeded random
Unicode text with special tokens), variants (hard cases + random text under
modified tokenizer configs: cased, accents kept/stripped, CJK off)."""
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.environ["SEGSTREAM_ROOT"]
BIN = os.environ["SEGSTREAM_BIN"]
MODEL = os.environ["SEGSTREAM_MODEL_DIR"]
DATA = os.environ["SEGSTREAM_DATA_DIR"]
TESTDATA = os.environ["SEGSTREAM_TESTDATA"]
MAX_REPORTED = 5


def read(path):
    with open(path, "rb") as f:
        return f.read()


def movies():
    with open(os.path.join(DATA, "movielens-small/movies.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 9000, len(rows)
    return "".join(f"liked: {r['title']} - {', '.join(r['genres'].split('|'))}\n" for r in rows).encode()


def tags():
    with open(os.path.join(DATA, "movielens-small/tags.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 1000, len(rows)
    return "".join(r["tag"].replace("\n", " ") + "\n" for r in rows).encode()


def random_text(seed=1, lines=5000):
    """Code points from many blocks (controls, marks, CJK, Hangul, emoji, tags,
    unassigned ones included), some special tokens glued in."""
    rng = random.Random(seed)
    blocks = [(0x0, 0x20), (0x20, 0x7F), (0x80, 0x250), (0x300, 0x370), (0x370, 0x530), (0x590, 0x700),
              (0x900, 0xE80), (0x1100, 0x1200), (0x1D00, 0x2000), (0x2000, 0x2BFF), (0x3000, 0x3100),
              (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xFB00, 0xFFFE), (0x10000, 0x10100), (0x1D100, 0x1D200),
              (0x1F300, 0x1FAFF), (0x20000, 0x20010), (0xE0000, 0xE0080), (0x30000, 0x30010)]
    out = []
    for _ in range(lines):
        chars = []
        for _ in range(rng.randint(0, 40)):
            lo, hi = rng.choice(blocks)
            cp = rng.randrange(lo, hi)
            chars.append(" " if cp == 10 or 0xD800 <= cp < 0xE000 else chr(cp))
        if rng.random() < 0.3:
            chars.insert(rng.randint(0, len(chars)), rng.choice(["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]"]))
        out.append("".join(chars) + "\n")
    return "".join(out).encode()


def run(cmd, data):
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return p.stdout.decode().split("\n")[:-1]


def compare(name, data, model):
    texts = data.split(b"\n")
    if texts[-1] == b"":
        texts.pop()
    ours = run([BIN, "tokenize", "--model", model], data)
    ref = run([os.path.join(ROOT, "tools/tokenizer-reference"), "--model", model], data)
    bad = 0
    if len(ours) != len(ref) or len(ref) != len(texts):
        print(f"{name}: line counts differ: {len(texts)} texts, segstream {len(ours)}, reference {len(ref)}")
        bad += 1
    for i, (a, b) in enumerate(zip(ours, ref)):
        if a != b:
            bad += 1
            if bad <= MAX_REPORTED:
                print(f"{name}: line {i + 1}: {texts[i][:300].decode('utf-8', 'backslashreplace')!r}\n  segstream: {a}\n  reference: {b}")
    tokens = sum(r.count(",") + 1 for r in ref)
    print(f"{name}: {len(texts)} lines, {tokens} reference ids, {bad} mismatching lines")
    return bad


def variant_model(tmp, lowercase, strip_accents, chinese):
    """A copy of the model folder whose tokenizer_config.json and tokenizer.json
    both say the same modified thing."""
    d = os.path.join(tmp, f"lower={lowercase}-strip={strip_accents}-cjk={chinese}")
    os.mkdir(d)
    for f in ("vocab.txt", "sentence_bert_config.json"):
        shutil.copy(os.path.join(MODEL, f), d)
    with open(os.path.join(MODEL, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    cfg.update(do_lower_case=lowercase, strip_accents=strip_accents, tokenize_chinese_chars=chinese)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(MODEL, "tokenizer.json")) as f:
        spec = json.load(f)
    spec["normalizer"].update(lowercase=lowercase, strip_accents=strip_accents, handle_chinese_chars=chinese)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(spec, f)
    return d


def main():
    name = sys.argv[1]
    short = os.path.join(DATA, "short-text-clustering")
    sets = {
        "stackoverflow": lambda: read(os.path.join(short, "StackOverflow.txt")),
        "searchsnippets": lambda: read(os.path.join(short, "SearchSnippets.txt")),
        "movies": movies,
        "tags": tags,
        "hard-cases": lambda: read(os.path.join(TESTDATA, "tokenizer_hard_cases.txt")),
        "invalid-utf8": lambda: read(os.path.join(TESTDATA, "tokenizer_invalid_utf8.bin")),
        "random": random_text,
    }
    if name == "variants":
        data = read(os.path.join(TESTDATA, "tokenizer_hard_cases.txt")) + random_text(seed=2, lines=2000)
        bad = 0
        with tempfile.TemporaryDirectory() as tmp:
            for lower, strip, cjk in [(True, False, True), (False, None, True), (False, True, True),
                                      (True, None, False), (True, True, True)]:
                model = variant_model(tmp, lower, strip, cjk)
                bad += compare(os.path.basename(model), data, model)
    elif name in sets:
        bad = compare(name, sets[name](), MODEL)
    else:
        sys.exit(f"unknown data set {name}; one of {', '.join(list(sets) + ['variants'])}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
