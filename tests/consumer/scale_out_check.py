#!/usr/bin/env python3
"""scale_out_check.py - inputs and checks of the scale-out test (kafka_scale_out.sh).

events N SEED EVENTS LABELS
    N StackOverflow titles (labelled: 20 tags), shuffled by SEED, as InterestChange
    NDJSON, one user per title, 12 s apart (so N = 6000 spans 20 one-hour panes);
    LABELS gets "user<TAB>label" lines.
check LABELS NAME CHANGES CATALOG [NAME CHANGES CATALOG]...
    For each run (NDJSON from `segstream consume`): no event_id twice; every segment id
    a change names is in the run's catalog; every user ends in a segment; the NMI of
    the users' final segments against the labels and the active segments at the end.
    Then every run after the first against the first: NMI within 0.01, active
    segments within 1. Exit 1 on any failure.
Standard library only (the NMI is computed here: arithmetic-mean normalisation, as
scikit-learn's default).
"""
import json
import math
import os
import random
import sys
from collections import Counter

T0 = 1_700_000_000_000
STEP_MS = 12_000


def make_events(n, seed, events_path, labels_path):
    data = os.path.join(os.environ["SEGSTREAM_DATA_DIR"], "short-text-clustering")
    with open(os.path.join(data, "StackOverflow.txt"), encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]
    with open(os.path.join(data, "StackOverflow_gnd.txt"), encoding="utf-8") as f:
        labels = [line.strip() for line in f]
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    with open(events_path, "w", encoding="utf-8") as ev, open(labels_path, "w", encoding="utf-8") as lab:
        for j, i in enumerate(order[:n]):
            user = f"so-{i}"
            ev.write(json.dumps({"event_id": f"so-e{j}", "user_id": user, "event_time": T0 + j * STEP_MS,
                                 "op": "SET", "text": texts[i], "source": None, "locale": "en"}) + "\n")
            lab.write(f"{user}\t{labels[i]}\n")


def nmi(a, b):
    n = len(a)
    ca, cb, cab = Counter(a), Counter(b), Counter(zip(a, b))
    h = lambda c: -sum(v / n * math.log(v / n) for v in c.values())
    mi = sum(v / n * math.log(v * n / (ca[x] * cb[y])) for (x, y), v in cab.items())
    ha, hb = h(ca), h(cb)
    return 1.0 if ha == 0 and hb == 0 else mi / ((ha + hb) / 2) if ha + hb > 0 else 0.0


def read_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_run(name, labels, changes_path, catalog_path):
    ok = True
    changes, catalog = read_ndjson(changes_path), read_ndjson(catalog_path)
    ids = Counter(c["event_id"] for c in changes)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        print(f"{name}: {len(dup)} event ids twice, e.g. {dup[:3]}")
        ok = False
    known = {s["segment_id"] for s in catalog}
    named = {c[k] for c in changes for k in ("segment", "previous_segment") if c.get(k) is not None}
    if named - known:
        print(f"{name}: segment ids in changes but not in the catalog: {sorted(named - known)[:10]}")
        ok = False
    final = {}
    for c in changes:  # a user's changes share its output partition, in order
        final[c["user_id"]] = c.get("segment")
    missing = [u for u in labels if final.get(u) is None]
    if missing:
        print(f"{name}: {len(missing)} of {len(labels)} users end without a segment, e.g. {missing[:3]}")
        ok = False
    last = {}
    for s in catalog:
        last[s["segment_id"]] = s
    active = sum(1 for s in last.values() if s["status"] == "ACTIVE")
    users = sorted(labels)
    score = nmi([labels[u] for u in users], [final.get(u) for u in users])
    print(f"{name}: {len(changes)} changes, {len(catalog)} catalog records, {len(known)} segment ids, "
          f"{active} active at the end, NMI {score:.4f}")
    return ok, score, active


def main():
    if sys.argv[1] == "events":
        make_events(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return 0
    labels = dict(line.rstrip("\n").split("\t") for line in open(sys.argv[2], encoding="utf-8"))
    runs = [check_run(sys.argv[i], labels, sys.argv[i + 1], sys.argv[i + 2]) for i in range(3, len(sys.argv), 3)]
    ok = all(r[0] for r in runs)
    for (_, score, active), name in zip(runs[1:], sys.argv[6::3]):
        if abs(score - runs[0][1]) > 0.01:
            print(f"{name}: NMI {score:.4f} is more than 0.01 from {runs[0][1]:.4f}")
            ok = False
        if abs(active - runs[0][2]) > 1:
            print(f"{name}: {active} active segments, not within 1 of {runs[0][2]}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
