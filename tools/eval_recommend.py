#!/usr/bin/env python3
"""eval_recommend.py - are segstream's segments useful for recommendation? MovieLens, time splits.

Run through the wrapper tools/eval-recommend (it picks the tools venv).

For each split time T (quantiles of the ratings' time range; with --rolling also every STEP):
  1. The InterestChange stream (tools/movielens-events: ratings >= 4 as "liked: title - genres",
     tags as "tagged: ...") up to the last split goes once through `segstream run` in file mode
     with the chosen cluster settings. A user's segment at T is the segment of their last change
     among the changes triggered by events before T (the output up to the first change whose
     source_offset is an event at or after T): what a reader of the change stream knew at T, and
     the same as a run on the stream cut at T (file mode's output does not depend on batching).
     Users whose last change has no segment (expired, deleted) are not tracked at T.
  2. Evaluated users: tracked at T and with at least one liked movie (rating >= 4) in
     [T, T + horizon). Relevant items: those liked movies.
  3. Each method recommends 10 movies per user, never one the user rated (any rating) before T:
       segstream   the movies most liked by the members of the user's segstream segment during
                   the last window before T ([T - window, T)), ties and too-short lists filled
                   from the global popularity order below
       kmeans      the same with the user's cluster from scikit-learn KMeans (k-means++, n_init=10,
                   fixed seed, same k) on the profiles of the same tracked users: the normalised
                   exponentially decayed mean (same half-life) of the embeddings of each user's
                   events before T; embeddings from `segstream encode` (cached)
       popularity  the movies most liked by anyone during the same window
     and is scored by hit rate@10 (share of users with at least one relevant movie in the 10)
     and NDCG@10 (binary relevance).
Counts "liked during the window" count each (user, movie) once; with --rec-half-life a like
weighs 0.5^((T - t) / half-life) instead of 1.

Every step uses only events before T except the relevant sets, so choosing the settings on one
split and reading another does not leak; the README and the report say which split chose them.
"""
import argparse
import csv
import hashlib
import importlib.machinery
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.cluster import KMeans

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY_MS = 86_400_000
TOP_N = 10


def load_movielens_events():
    """tools/movielens-events as a module (it has no .py suffix): one definition of the events."""
    path = os.path.join(ROOT, "tools", "movielens-events")
    loader = importlib.machinery.SourceFileLoader("movielens_events", path)
    spec = importlib.util.spec_from_loader("movielens_events", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def parse_duration_ms(s):
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS}
    for u in ("ms", "s", "m", "h", "d"):
        if s.endswith(u) and s[:-len(u)].replace(".", "", 1).isdigit():
            return int(float(s[:-len(u)]) * units[u])
    if s.isdigit():
        return int(s)
    raise argparse.ArgumentTypeError(f"bad duration '{s}' (e.g. 90d, 12h)")


def find_bin():
    b = os.environ.get("SEGSTREAM_BIN")
    if b:
        return b
    for cand in ("build/consumer/segstream", "build/segstream"):
        p = os.path.join(ROOT, cand)
        if os.path.exists(p):
            return p
    sys.exit("eval-recommend: segstream binary not found (set SEGSTREAM_BIN)")


def load_ratings(data):
    """(user, movie, rating, time_ms) for every rating, as numpy columns."""
    u, m, r, t = [], [], [], []
    with open(os.path.join(data, "ratings.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            u.append(int(row["userId"]))
            m.append(int(row["movieId"]))
            r.append(float(row["rating"]))
            t.append(int(row["timestamp"]) * 1000)
    return np.array(u), np.array(m), np.array(r), np.array(t, dtype=np.int64)


def embed_texts(args, texts):
    """Unit embeddings of `texts` from `segstream encode`, cached by the texts and the model."""
    if any("\n" in s or "\r" in s for s in texts):
        sys.exit("eval-recommend: a text holds a line break; `segstream encode` reads one text a line")
    blob = "\n".join(texts).encode("utf-8") + b"\n"
    cache = os.path.join(os.environ.get("SEGSTREAM_CACHE", os.path.expanduser("~/.cache/segstream")), "emb")
    os.makedirs(cache, exist_ok=True)
    h = hashlib.sha256(blob + os.path.realpath(args.model).encode()).hexdigest()[:16]
    path = os.path.join(cache, f"encode-{h}.npy")
    if not os.path.exists(path):
        t0 = time.time()
        with open(path + ".tmp", "wb") as fout:
            r = subprocess.run([find_bin(), "encode", "--model", args.model, "--format", "npy",
                                "--threads", str(args.threads)], input=blob, stdout=fout)
        if r.returncode != 0:
            os.unlink(path + ".tmp")
            sys.exit("eval-recommend: `segstream encode` failed")
        os.rename(path + ".tmp", path)
        log(args, f"encoded {len(texts)} distinct texts in {time.time() - t0:.1f} s -> {path}")
    X = np.load(path).astype(np.float64)
    if len(X) != len(texts):
        sys.exit(f"eval-recommend: {path} has {len(X)} rows for {len(texts)} texts (stale cache?)")
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def log(args, msg):
    if not args.quiet:
        print(f"eval-recommend: {msg}", file=sys.stderr, flush=True)


def run_segstream(args, events, until, workdir):
    """`segstream run` on the events before `until`; returns its changes as (source_offset, user, segment)
    in output order (source_offset = the 1-based input line whose event triggered the change)."""
    inp = os.path.join(workdir, f"events-{until}.ndjson")
    out = os.path.join(workdir, f"changes-{until}.ndjson")
    seg = os.path.join(workdir, f"segments-{until}.ndjson")
    n = 0
    with open(inp, "w", encoding="utf-8") as f:
        for e in events:
            if e["event_time"] >= until:
                break  # events are in event-time order
            f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    cmd = [find_bin(), "run", "--quiet", "--input", inp, "--output", out, "--segments", seg,
           "--model", args.model, "--threads", str(args.threads), "--k", str(args.k),
           "--window", args.window, "--pane", args.pane, "--half-life", args.half_life,
           "--seed", str(args.seed), "--init-sample", str(args.init_sample)] + args.segstream_args.split()
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"eval-recommend: {' '.join(cmd)} failed: {r.stderr}")
    changes = []
    with open(out, encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            changes.append((int(c["source_offset"]), int(c["user_id"][1:]), c["segment"]))
    log(args, f"segstream run on {n} events (before {iso(until)}) in {time.time() - t0:.1f} s, "
              f"{len(changes)} changes")
    return changes


def segments_at(changes, n_before):
    """Each tracked user's segment once the first n_before input events were applied: the output up to
    the first change triggered by a later event (the input is in event-time order, so that is what a
    reader of the change stream knew at T). The changes the bootstrap releases carry their own events'
    offsets but come out together; a split inside the bootstrap sample is refused."""
    last = {}
    for off, user, seg in changes:
        if off > n_before:
            break
        last[user] = seg
    return {u: s for u, s in last.items() if s is not None}


def decayed_profiles(users, ev_user, ev_time, ev_row, X, T, half_life_ms):
    """Normalised decayed mean of each user's event embeddings before T (rows follow `users`)."""
    P = np.zeros((len(users), X.shape[1]))
    pos = {u: i for i, u in enumerate(users)}
    sel = np.flatnonzero(ev_time < T)
    slot = np.array([pos.get(int(u), -1) for u in ev_user[sel]], dtype=np.int64)
    keep = slot >= 0
    sel, slot = sel[keep], slot[keep]
    w = 0.5 ** ((T - ev_time[sel]) / half_life_ms)
    np.add.at(P, slot, w[:, None] * X[ev_row[sel]])
    norms = np.linalg.norm(P, axis=1, keepdims=True)
    return P / np.maximum(norms, 1e-300)


def ranked(scores, popularity_order, exclude):
    """Top TOP_N movies by score (ties by global popularity order), filled from popularity."""
    pop_rank = popularity_order["rank"]
    cand = sorted((m for m in scores if m not in exclude), key=lambda m: (-scores[m], pop_rank.get(m, 1 << 30), m))
    out = cand[:TOP_N]
    if len(out) < TOP_N:
        have = set(out)
        for m in popularity_order["list"]:
            if m not in exclude and m not in have:
                out.append(m)
                if len(out) == TOP_N:
                    break
    return out


def metrics(rec, relevant):
    hits = [1.0 if m in relevant else 0.0 for m in rec]
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), TOP_N)))
    return (1.0 if any(hits) else 0.0), dcg / idcg


def iso(t_ms):
    return time.strftime("%Y-%m-%d", time.gmtime(t_ms / 1000))


def evaluate_split(args, T, n_before, changes, ratings, emb):
    ru, rm, rr, rt = ratings
    W = parse_duration_ms(args.window)
    H_rec = parse_duration_ms(args.rec_half_life) if args.rec_half_life else 0
    seg_of = segments_at(changes, n_before)
    n_events = n_before

    # likes during the last window, one per (user, movie)
    win = (rt >= T - W) & (rt < T) & (rr >= 4.0)
    likes = {}  # user -> {movie: weight}
    for u, m, t in zip(ru[win], rm[win], rt[win]):
        w = 0.5 ** ((T - t) / H_rec) if H_rec else 1.0
        likes.setdefault(int(u), {})[int(m)] = w
    pop = {}
    for ml in likes.values():
        for m, w in ml.items():
            pop[m] = pop.get(m, 0.0) + w
    pop_list = sorted(pop, key=lambda m: (-pop[m], m))
    popularity = {"list": pop_list, "rank": {m: i for i, m in enumerate(pop_list)}}

    rated_before = {}
    before = rt < T
    for u, m in zip(ru[before], rm[before]):
        rated_before.setdefault(int(u), set()).add(int(m))
    future = (rt >= T) & (rt < T + args.horizon_ms) & (rr >= 4.0)
    relevant = {}
    for u, m in zip(ru[future], rm[future]):
        relevant.setdefault(int(u), set()).add(int(m))

    tracked = sorted(seg_of)
    # batch k-means on the same users' profiles
    ev_user, ev_time, ev_row, X = emb
    P = decayed_profiles(tracked, ev_user, ev_time, ev_row, X, T, parse_duration_ms(args.half_life))
    k_eff = min(args.k, len(tracked))
    km = KMeans(n_clusters=k_eff, init="k-means++", n_init=10, random_state=args.seed).fit_predict(P)
    km_of = {u: int(c) for u, c in zip(tracked, km)}

    def group_scores(group_of):
        members = {}
        for u, g in group_of.items():
            members.setdefault(g, []).append(u)
        out = {}
        for g, us in members.items():
            s = {}
            for u in us:
                for m, w in likes.get(u, {}).items():
                    s[m] = s.get(m, 0.0) + w
            out[g] = s
        return out, members

    seg_scores, seg_members = group_scores(seg_of)
    km_scores, km_members = group_scores(km_of)
    evaluated = [u for u in tracked if u in relevant]
    sums = {name: [0.0, 0.0] for name in ("segstream", "kmeans", "popularity")}
    per_user = {name: [] for name in sums}  # 0/1 hit per evaluated user, for the pooled interval
    for u in evaluated:
        ex = rated_before.get(u, set())
        recs = {
            "segstream": ranked(seg_scores[seg_of[u]], popularity, ex),
            "kmeans": ranked(km_scores[km_of[u]], popularity, ex),
            "popularity": ranked({}, popularity, ex),
        }
        for name, rec in recs.items():
            h, n = metrics(rec, relevant[u])
            sums[name][0] += h
            sums[name][1] += n
            per_user[name].append(int(h))
    n_eval = len(evaluated)
    res = {"split": iso(T), "split_ms": int(T), "events_before": n_events, "tracked_users": len(tracked),
           "users": n_eval, "segments": len(seg_members), "kmeans_clusters": k_eff,
           "window_likes": int(win.sum()),
           "mean_segment_size": round(len(tracked) / max(len(seg_members), 1), 2)}
    for name, (h, n) in sums.items():
        res[name] = {"hit10": h / n_eval if n_eval else 0.0, "ndcg10": n / n_eval if n_eval else 0.0,
                     "hits": int(h), "per_user_hits": per_user[name]}
    p = res["popularity"]["hit10"]
    res["ratio_hit10"] = res["segstream"]["hit10"] / p if p > 0 else None
    res["ratio_hit10_kmeans"] = res["kmeans"]["hit10"] / p if p > 0 else None
    return res


def pooled(results):
    out = {"split": "all", "users": sum(r["users"] for r in results)}
    n = out["users"]
    for name in ("segstream", "kmeans", "popularity"):
        hits = sum(r[name]["hits"] for r in results)
        nd = sum(r[name]["ndcg10"] * r["users"] for r in results)
        out[name] = {"hit10": hits / n if n else 0.0, "ndcg10": nd / n if n else 0.0, "hits": hits}
    p = out["popularity"]["hit10"]
    out["ratio_hit10"] = out["segstream"]["hit10"] / p if p > 0 else None
    out["ratio_hit10_kmeans"] = out["kmeans"]["hit10"] / p if p > 0 else None
    # paired bootstrap over the evaluated (user, split) pairs: how far the ratio can move by chance
    seg = np.array([h for r in results for h in r["segstream"]["per_user_hits"]])
    pop = np.array([h for r in results for h in r["popularity"]["per_user_hits"]])
    if n and pop.sum() > 0:
        rng = np.random.default_rng(12345)
        idx = rng.integers(0, n, size=(2000, n))
        ps = pop[idx].sum(axis=1)
        ratios = seg[idx].sum(axis=1)[ps > 0] / ps[ps > 0]
        lo, hi = np.percentile(ratios, [2.5, 97.5])
        out["ratio_hit10_ci95"] = [round(float(lo), 3), round(float(hi), 3)]
        out["segstream_only_hits"] = int(((seg == 1) & (pop == 0)).sum())
        out["popularity_only_hits"] = int(((seg == 0) & (pop == 1)).sum())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.path.join(os.environ.get("SEGSTREAM_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")),
                                "movielens-small")
    ap.add_argument("--data", default=default_data, help="the movielens-small folder")
    ap.add_argument("--model", default=os.environ.get("SEGSTREAM_MODEL_DIR",
                                                      os.path.expanduser("~/.cache/segstream/models/all-MiniLM-L6-v2")))
    ap.add_argument("--splits", default="0.4,0.55,0.7,0.85",
                    help="split times: quantiles of the ratings' times (0..1), or epoch ms, comma-separated")
    ap.add_argument("--horizon", default="90d", help="relevant = liked in [T, T + this)")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--window", default="365d")
    ap.add_argument("--pane", default="1d")
    ap.add_argument("--half-life", default="30d", help="cluster.half_life and the k-means profiles' decay")
    ap.add_argument("--rec-half-life", default="",
                    help="weigh each like in the window by this decay (default: every like counts 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init-sample", type=int, default=1000, help="cluster.init_sample (splits must come after it)")
    ap.add_argument("--rolling", default="",
                    help="also evaluate splits every this long (e.g. 90d) from the first split to the end minus "
                         "the horizon, pooled (more users than the quantile table)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rolling-start", default="", help="first rolling split (quantile or epoch ms; default: "
                                                        "the first split)")
    ap.add_argument("--segstream-args", default="", help="extra arguments for `segstream run`")
    ap.add_argument("--workdir", help="keep the segstream run's input and outputs here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="one JSON object: settings, splits, pooled")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--table", metavar="JSON", help="print the table of an earlier --json output and stop")
    args = ap.parse_args()
    if args.table:
        with open(args.table, encoding="utf-8") as f:
            print_table(json.load(f))
        return
    args.horizon_ms = parse_duration_ms(args.horizon)
    for d in (args.window, args.pane, args.half_life):
        parse_duration_ms(d)

    ml = load_movielens_events()
    events = ml.events(args.data)
    ratings = load_ratings(args.data)
    texts = sorted({e["text"] for e in events})
    row_of = {s: i for i, s in enumerate(texts)}
    X = embed_texts(args, texts)
    emb = (np.array([int(e["user_id"][1:]) for e in events]), np.array([e["event_time"] for e in events], dtype=np.int64),
           np.array([row_of[e["text"]] for e in events]), X)

    rt_sorted = np.sort(ratings[3])

    def split_time(text):  # a quantile of the ratings' times, or epoch ms
        v = float(text)
        return int(rt_sorted[min(int(v * len(rt_sorted)), len(rt_sorted) - 1)]) if v <= 1 else int(v)

    splits = [split_time(x) for x in args.splits.split(",")]

    settings = {k: getattr(args, k) for k in ("k", "window", "pane", "half_life", "rec_half_life", "horizon",
                                               "seed", "init_sample", "rolling", "rolling_start",
                                               "segstream_args")}
    t0 = time.time()
    times = np.array([e["event_time"] for e in events], dtype=np.int64)
    if args.rolling:
        step = parse_duration_ms(args.rolling)
        last_split = int(rt_sorted[-1]) - args.horizon_ms
        start = split_time(args.rolling_start) if args.rolling_start else min(splits)
        rolling = list(range(start, last_split + 1, step))
    else:
        rolling = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        changes = run_segstream(args, events, max(splits + rolling), workdir)

    def split_result(T):
        n_before = int(np.searchsorted(times, T, side="left"))
        if n_before < args.init_sample:
            sys.exit(f"eval-recommend: split {iso(T)} falls inside the model's bootstrap sample")
        return evaluate_split(args, T, n_before, changes, ratings, emb)

    results = [split_result(T) for T in splits]
    rolled = [split_result(T) for T in rolling]
    doc = {"settings": settings, "splits": results, "pooled": pooled(results), "seconds": round(time.time() - t0, 1)}
    if rolled:
        doc["rolling"] = {"step": args.rolling, "splits": rolled, "pooled": pooled(rolled)}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print_table(doc)


def print_table(doc):
    """The human table of a --json document (also: tools/eval-recommend --table FILE)."""
    s = doc["settings"]
    print(f"settings: k={s['k']} window={s['window']} pane={s['pane']} half-life={s['half_life']} "
          f"horizon={s['horizon']} rec-half-life={s['rec_half_life'] or 'none'} seed={s['seed']}")
    print(f"{'split':10} {'tracked':>7} {'users':>5} | {'hit@10 seg':>10} {'kmeans':>7} {'pop':>7} | "
          f"{'NDCG@10 seg':>11} {'kmeans':>7} {'pop':>7} | {'seg/pop':>7} {'km/pop':>7}")

    def ratio(x):
        return f"{x:7.2f}" if x is not None else f"{'-':>7}"

    for r in doc["splits"] + [doc["pooled"]]:
        print(f"{r['split']:10} {r.get('tracked_users', ''):>7} {r['users']:5d} | "
              f"{r['segstream']['hit10']:10.3f} {r['kmeans']['hit10']:7.3f} {r['popularity']['hit10']:7.3f} | "
              f"{r['segstream']['ndcg10']:11.3f} {r['kmeans']['ndcg10']:7.3f} {r['popularity']['ndcg10']:7.3f} | "
              f"{ratio(r['ratio_hit10'])} {ratio(r['ratio_hit10_kmeans'])}")
    r = doc["pooled"]
    print(f"all splits: segstream/popularity hit@10 {ratio(r['ratio_hit10']).strip()}, 95% paired bootstrap "
          f"{r.get('ratio_hit10_ci95')}; hits only segstream got {r.get('segstream_only_hits')}, only popularity "
          f"{r.get('popularity_only_hits')}")
    if "rolling" in doc:
        r = doc["rolling"]["pooled"]
        print(f"rolling: splits every {doc['rolling']['step']} ({len(doc['rolling']['splits'])} splits, "
              f"{r['users']} user-splits): hit@10 segstream {r['segstream']['hit10']:.3f} "
              f"({r['segstream']['hits']}), kmeans {r['kmeans']['hit10']:.3f} ({r['kmeans']['hits']}), "
              f"popularity {r['popularity']['hit10']:.3f} ({r['popularity']['hits']}); NDCG@10 "
              f"{r['segstream']['ndcg10']:.3f} / {r['kmeans']['ndcg10']:.3f} / {r['popularity']['ndcg10']:.3f}; "
              f"segstream/popularity {ratio(r['ratio_hit10']).strip()} "
              f"(95% paired bootstrap {r.get('ratio_hit10_ci95')})")


if __name__ == "__main__":
    main()
