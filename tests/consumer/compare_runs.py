#!/usr/bin/env python3
"""compare_runs.py REF OTHER NAME - two `kafka_inspect dump` files of the same
topic kind from two runs of the stage on the same input: must be equal byte
for byte (per partition, records in offset order, key, value and headers).

Exit 0 when equal, 1 otherwise. SegmentChange dumps (any record with an
event_id) must also have unique event ids. On a difference it says what
differs, for whoever fixes it: record counts per partition, the first
differing positions, which decoded fields differ and by how much (floats:
the largest absolute difference), whether each key's own sequence is still
equal (then only the interleaving of keys differs), and for SegmentChanges
the event ids missing or extra. Standard library only."""
import collections
import json
import sys


def load(path):
    """[(partition, key, value + headers, record or None)] in file order."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t", 4)
            if len(cols) != 5:
                sys.exit(f"{path}:{n}: not a kafka_inspect dump line")
            rec = None if cols[4] == "-" else json.loads(cols[4])
            out.append((int(cols[0]), cols[1], cols[2] + " " + cols[3], rec))
    return out


def duplicates(recs):
    ids = collections.Counter(r[3]["event_id"] for r in recs if r[3] and "event_id" in r[3])
    return [i for i, c in ids.items() if c > 1]


def field_diffs(a, b, stats):
    """Adds to stats {field: [count, largest |d| or None]} what differs between records a and b."""
    if a is None or b is None:
        stats.setdefault("<undecodable>", [0, None])[0] += 1
        return
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if x == y:
            continue
        s = stats.setdefault(k, [0, None])
        s[0] += 1
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            pairs = list(zip(x, y))
        else:
            pairs = [(x, y)]
        for u, v in pairs:
            if isinstance(u, (int, float)) and isinstance(v, (int, float)) and not isinstance(u, bool):
                s[1] = max(s[1] or 0.0, abs(u - v))


def main():
    ref_path, other_path, name = sys.argv[1:4]
    ref, other = load(ref_path), load(other_path)
    bad = False
    for label, recs in (("reference", ref), ("other", other)):
        d = duplicates(recs)
        if d:
            print(f"{name}: {len(d)} event ids appear more than once in the {label} run, e.g. {d[:3]}")
            bad = True
    if [r[:3] for r in ref] == [r[:3] for r in other]:
        if not bad:
            print(f"{name}: {len(ref)} records, byte-identical")
        return 1 if bad else 0

    by_part = lambda recs: collections.OrderedDict(
        (p, [r for r in recs if r[0] == p]) for p in sorted({r[0] for r in recs}))
    rp, op = by_part(ref), by_part(other)
    print(f"{name}: DIFFERENT. records per partition: reference "
          f"{ {p: len(v) for p, v in rp.items()} }, other { {p: len(v) for p, v in op.items()} }")
    stats, shown, differing = {}, 0, 0
    for p in sorted(set(rp) | set(op)):
        a, b = rp.get(p, []), op.get(p, [])
        for i, (x, y) in enumerate(zip(a, b)):
            if x[1:3] == y[1:3]:
                continue
            differing += 1
            field_diffs(x[3], y[3], stats)
            if shown < 3:
                shown += 1
                print(f"  partition {p} record {i}:\n    reference {json.dumps(x[3])[:400]}\n"
                      f"    other     {json.dumps(y[3])[:400]}")
    print(f"  {differing} records differ at the same position (of {min(len(ref), len(other))} compared)")
    for k, (count, worst) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
        print(f"    field {k}: differs in {count} records" + (f", largest |d| {worst:.3g}" if worst is not None else ""))
    per_key = lambda recs: {k: [r[2] for r in recs if r[1] == k] for k in {r[1] for r in recs}}
    rk, ok = per_key(ref), per_key(other)
    same_keys = sum(1 for k in set(rk) | set(ok) if rk.get(k) == ok.get(k))
    print(f"  per key: {same_keys} of {len(set(rk) | set(ok))} keys have byte-identical sequences")
    ids = lambda recs: collections.Counter(r[3]["event_id"] for r in recs if r[3] and "event_id" in r[3])
    ri, oi = ids(ref), ids(other)
    if ri or oi:
        missing, extra = list((ri - oi).elements()), list((oi - ri).elements())
        print(f"  event ids: {len(missing)} missing from the other run {missing[:3]}, "
              f"{len(extra)} extra in it {extra[:3]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
