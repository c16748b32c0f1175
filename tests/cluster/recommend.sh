#!/usr/bin/env bash
# Recommendation smoke-quality test (label `quality`): tools/eval-recommend on one MovieLens
# time split with the settings the README reports. It checks what must hold whatever the
# data says: users were evaluated, segstream produced several segments among them, k-means
# got its k clusters, every rate is a share, and NDCG@10 <= hit@10 for every method (a user
# without a hit has NDCG 0). The issue's target (segment hit@10 >= 1.2x popularity) does NOT
# hold on this data (README "Recommendation evaluation"), so it is printed, not asserted.
set -euo pipefail
root="${SEGSTREAM_ROOT:?}"
venv=$("$root/tools/venv")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/tools/eval-recommend" --splits 0.4 --k 4 --window 90d --half-life 30d --horizon 90d --json > "$work/r.json"
"$root/tools/eval-recommend" --table "$work/r.json"
"$venv/bin/python" - "$work/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["splits"][0]
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= bool(cond)
check(s["users"] >= 5, "%d users evaluated (>= 5)" % s["users"])
check(s["segments"] >= 2, "%d segstream segments among the tracked users (>= 2)" % s["segments"])
check(s["kmeans_clusters"] == r["settings"]["k"], "k-means clusters %d = k" % s["kmeans_clusters"])
for m in ("segstream", "kmeans", "popularity"):
    h, n = s[m]["hit10"], s[m]["ndcg10"]
    check(0 <= n <= h <= 1, "%s: 0 <= NDCG@10 %.3f <= hit@10 %.3f <= 1" % (m, n, h))
    check(len(s[m]["per_user_hits"]) == s["users"], "%s: one result per evaluated user" % m)
check(s["popularity"]["hits"] > 0, "popularity hits someone (the relevant sets are not empty)")
print("info segstream/popularity hit@10 = %s (issue target 1.2, not met on this data: see README)"
      % s["ratio_hit10"])
sys.exit(0 if ok else 1)
PY
