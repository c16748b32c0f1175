#!/usr/bin/env bash
# report_chromium.sh - `segstream report` end to end: real segments and
# changes from file mode (`segstream run` on the first 3000 MovieLens events,
# k = 8), the page rendered, then loaded in headless Chromium: after its
# script ran, the DOM must hold one map element per active segment (counted
# from the catalog file independently, in Python) with each one's label, the
# table rows, the life-cycle markers and the change bars; an event text
# carrying markup must arrive as text (no second script); the page must name
# no external resource; and a screenshot must be a non-blank PNG.
# Chromium missing: skipped (77), except under CI=true, where it fails.
set -euo pipefail
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
here=$(cd "$(dirname "$0")" && pwd)
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    if [ "${CI:-}" = true ]; then
        echo "FAIL: chromium is not installed (tools/setup installs it)"; exit 1
    fi
    echo "SKIP: chromium is not installed (apt-get install chromium, or run tools/setup)"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 3000 \
    -o "$work/events.ndjson"
"$SEGSTREAM_BIN" run --quiet --input "$work/events.ndjson" --output "$work/changes.ndjson" \
    --segments "$work/segments.ndjson" --model "$SEGSTREAM_MODEL_DIR" --threads 2 \
    --k 8 --init-sample 500 --window 30d --pane 1d --half-life 7d --future-skew 3650d

# The catalog's view, independently of the C code: the latest record of each
# id (the file is in model-version order) and which are active. The texts of
# the current members of active segments get markup appended, to check that
# examples show it as text.
python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
latest = {}
for line in open(os.path.join(work, "segments.ndjson"), encoding="utf-8"):
    s = json.loads(line)
    latest[s["segment_id"]] = s
active = sorted(i for i, s in latest.items() if s["status"] == "ACTIVE")
with open(os.path.join(work, "active.txt"), "w", encoding="utf-8") as f:
    for i in active:
        f.write(f"{i}\t{', '.join(latest[i]['label'][:3])}\n")
final = {}
for line in open(os.path.join(work, "changes.ndjson"), encoding="utf-8"):
    c = json.loads(line)
    final[c["user_id"]] = c["segment"]
members = {u for u, s in final.items() if s in active}
with open(os.path.join(work, "events.ndjson"), encoding="utf-8") as src, \
        open(os.path.join(work, "events-marked.ndjson"), "w", encoding="utf-8") as dst:
    for line in src:
        e = json.loads(line)
        if e["user_id"] in members and e["text"]:
            e["text"] += " <script>document.title='pwned'</script>"
        dst.write(json.dumps(e) + "\n")
print(f"{len(latest)} segment ids, {len(active)} active; texts of {len(members)} members marked")
PY

"$SEGSTREAM_BIN" report --segments "$work/segments.ndjson" --changes "$work/changes.ndjson" \
    --events "$work/events-marked.ndjson" --title "report test" -o "$work/report.html"

fail() { echo "FAIL: $*"; exit 1; }
# Self-contained: no URL, no src/href attribute at all.
! grep -Eq 'https?:|//[a-z0-9.-]+\.[a-z]{2,}/| src=| href=|@import' "$work/report.html" \
    || fail "the page names an external resource: $(grep -Eo 'https?:[^"]*| src=[^ ]*| href=[^ ]*' "$work/report.html" | head -3)"

browse() {
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
        --virtual-time-budget=2000 "$@" 2>>"$work/chromium.log"
}
browse --dump-dom "file://$work/report.html" > "$work/dom.html" || { tail -5 "$work/chromium.log"; fail "chromium --dump-dom"; }
python3 - "$work" <<'PY'
import html, os, re, sys
work = sys.argv[1]
dom = open(os.path.join(work, "dom.html"), encoding="utf-8").read()
active = [l.rstrip("\n").split("\t") for l in open(os.path.join(work, "active.txt"), encoding="utf-8")]
def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)
if 'data-ready="1"' not in dom:
    fail("the page's script did not run to its end (no data-ready)")
status = re.search(r'<p class="note" id="status">([^<]*)</p>', dom)
if not status or not status.group(1).startswith(f"{len(active)} active segments on the map"):
    fail(f"status line written by the script: {status.group(1) if status else None!r}")
groups = re.findall(r'<g class="map-seg" data-segment="(\d+)">(.*?)</g>', dom, re.S)
if sorted(int(i) for i, _ in groups) != sorted(int(i) for i, _ in active):
    fail(f"map elements {sorted(int(i) for i, _ in groups)} != active segments {[int(i) for i, _ in active]}")
labels = {i: html.unescape(re.sub(r"<[^>]*>", "", re.search(r'<text class="map-label"[^>]*>(.*?)</text>', body).group(1)))
          for i, body in groups}
for i, label in active:
    if labels[i] != f"{i}: {label}":
        fail(f"segment {i}: map label {labels[i]!r}, catalog says {label!r}")
rows = re.findall(r'<tr class="seg-row" id="seg-(\d+)"', dom)
if sorted(rows) != sorted(i for i, _ in active):
    fail(f"table rows {rows}")
if len(re.findall(r"<script", dom)) != 1:
    fail("a text from the data became a script element")
if "&lt;script&gt;document.title='pwned'&lt;/script&gt;" not in dom:
    fail("no marked member's text is shown (escaped) among the examples")
if "<title>pwned</title>" in dom:
    fail("markup from the data ran")
for kind in ("birth", "split-birth", "split"):
    if f'class="event event-{kind}"' not in dom:
        fail(f"no {kind} marker in the size chart")
if len(re.findall(r'class="size-line"', dom)) < len(active):
    fail("fewer size lines than active segments")
bars = re.findall(r'class="rate-bar" data-cause="(\w+)"', dom)
if not {"INTEREST_CHANGED", "MODEL_UPDATED"} <= set(bars):
    fail(f"change-rate bars by cause: {sorted(set(bars))}")
examples = len(re.findall(r'<li class="example">', dom))
print(f"DOM: {len(groups)} map elements with their labels, {len(rows)} rows, {examples} example texts, "
      f"{len(bars)} rate bars")
PY

browse --screenshot="$work/report.png" --window-size=1000,1400 "file://$work/report.html" >/dev/null \
    || { tail -5 "$work/chromium.log"; fail "chromium --screenshot"; }
read -r width height colours ink < <(python3 "$here/png_stats.py" "$work/report.png")
echo "screenshot: ${width}x${height}, $colours colours, ink $ink"
[ "$width" -eq 1000 ] && [ "$height" -eq 1400 ] || fail "screenshot size ${width}x${height}"
[ "$colours" -ge 50 ] || fail "screenshot has only $colours colours: blank?"
python3 -c "import sys; sys.exit(0 if 0.05 <= float(sys.argv[1]) <= 0.95 else 1)" "$ink" || fail "screenshot ink share $ink"
echo OK
