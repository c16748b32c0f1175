#!/usr/bin/env bash
# run_file_mode.sh - `segstream run` on the first 2000 MovieLens events
# (tools/movielens-events): the output files are byte-identical for
# --batch-events 1, 7 and 1000, and for the same events as NDJSON or as an
# Avro container file. Two bad lines at the end of the NDJSON become
# DECODE_ERROR dead letters with their line numbers and stop nothing.
set -euo pipefail
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
to_avro=${1:?usage: run_file_mode.sh NDJSON_TO_AVRO}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 2000 \
    -o "$work/clean.ndjson"
"$to_avro" "$work/events.avro" deflate < "$work/clean.ndjson"
cp "$work/clean.ndjson" "$work/events.ndjson"
printf '%s\n' '{"event_id": "broken' '{"event_id":"x","user_id":"u1","event_time":1,"op":"NOPE"}' \
    >> "$work/events.ndjson"

run() { # name input batch-events
    "$SEGSTREAM_BIN" run --quiet --input "$2" --output "$work/$1.changes" --segments "$work/$1.segments" \
        --dead-letters "$work/$1.dlq" --model "$SEGSTREAM_MODEL_DIR" --threads 2 --batch-events "$3" \
        --k 8 --init-sample 500 --window 30d --pane 1d --half-life 7d --future-skew 3650d
}
run b1000 "$work/events.ndjson" 1000
run b7 "$work/events.ndjson" 7
run b1 "$work/events.ndjson" 1
run avro "$work/events.avro" 1000

changes=$(wc -l < "$work/b1000.changes")
segments=$(wc -l < "$work/b1000.segments")
echo "2000 events -> $changes changes, $segments segment records"
[ "$changes" -gt 100 ] || { echo "FAIL: too few changes ($changes)"; exit 1; }
[ "$segments" -gt 8 ] || { echo "FAIL: too few segment records ($segments)"; exit 1; }
for b in b7 b1; do
    for f in changes segments dlq; do
        cmp "$work/b1000.$f" "$work/$b.$f" || { echo "FAIL: $f differ between --batch-events 1000 and ${b#b}"; exit 1; }
    done
done
for f in changes segments; do
    cmp "$work/b1000.$f" "$work/avro.$f" || { echo "FAIL: $f differ between NDJSON and Avro input"; exit 1; }
done
[ ! -s "$work/avro.dlq" ] || { echo "FAIL: dead letters from the clean Avro input"; cat "$work/avro.dlq"; exit 1; }
[ "$(wc -l < "$work/b1000.dlq")" -eq 2 ] || { echo "FAIL: expected 2 dead letters"; cat "$work/b1000.dlq"; exit 1; }
grep -q '"reason":"DECODE_ERROR","message":"line 2001: ' "$work/b1000.dlq" || { echo "FAIL: line 2001"; exit 1; }
grep -q '"reason":"DECODE_ERROR","message":"line 2002: ' "$work/b1000.dlq" || { echo "FAIL: line 2002"; exit 1; }
# every change names a real input line as its source
awk -F'"source_offset":' '{ split($2, a, "}"); if (a[1] < 1 || a[1] > 2000) { print "bad offset " a[1]; exit 1 } }' \
    "$work/b1000.changes"
echo OK
