#!/usr/bin/env bash
# Quality test (label `quality`, long): segstream's streaming segments against batch
# k-means on the real short-text data sets. Targets (issue 4): NMI >= k-means NMI - 0.01
# on StackOverflow and SearchSnippets; in the drift scenario ARI within 0.03 of k-means
# fitted on the last window alone. All at the default settings (cluster.hysteresis 0.02).
# Embeddings come from `segstream encode` (cached under $SEGSTREAM_CACHE/emb), or from
# $SEGSTREAM_EMBEDDINGS_DIR/<Name>.npy when set (e.g. made by tools/reference-embed.py).
set -euo pipefail
root="${SEGSTREAM_ROOT:?}"
data="${SEGSTREAM_DATA_DIR:?}/short-text-clustering"
venv=$("$root/tools/venv")
for name in StackOverflow SearchSnippets; do
  emb=()
  if [ -n "${SEGSTREAM_EMBEDDINGS_DIR:-}" ]; then emb=(--embeddings "$SEGSTREAM_EMBEDDINGS_DIR/$name.npy"); fi
  out=$("$root/tools/eval-clustering" --texts "$data/$name.txt" --labels "$data/${name}_gnd.txt" \
          --methods segstream,kmeans --drift --json "${emb[@]}")
  echo "$name: $out"
  "$venv/bin/python" - "$name" <<PY
import json, sys
r = json.loads('''$out''')
name = sys.argv[1]
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + name + ": " + what)
    ok &= cond
check(r["segstream-final"]["nmi"] >= r["kmeans"]["nmi"] - 0.01,
      f"NMI {r['segstream-final']['nmi']} >= k-means {r['kmeans']['nmi']} - 0.01")
check(r["drift-segstream-live"]["ari"] >= r["drift-kmeans-window"]["ari"] - 0.03,
      f"drift ARI {r['drift-segstream-live']['ari']} >= window k-means {r['drift-kmeans-window']['ari']} - 0.03")
sys.exit(0 if ok else 1)
PY
done
