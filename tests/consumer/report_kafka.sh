#!/usr/bin/env bash
# report_kafka.sh - `segstream report` reading topics: the catalog and the
# changes of a file-mode run (1500 MovieLens events) are produced to fresh
# topics of 3 partitions on the real broker (so partitions interleave), and
# the page made from the topics (--topic, --changes-topic) must equal, byte
# for byte apart from the line naming its sources, the page made from the
# files. The topics page reads the events from an Avro container file, the
# files page from NDJSON (record numbers and line numbers agree). A topic
# that does not exist is an error naming it.
set -euo pipefail
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}" "${SEGSTREAM_BROKERS:?}"
to_avro=${1:?usage: report_kafka.sh NDJSON_TO_AVRO}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 1500 \
    -o "$work/events.ndjson"
"$SEGSTREAM_BIN" run --quiet --input "$work/events.ndjson" --output "$work/changes.ndjson" \
    --segments "$work/segments.ndjson" --model "$SEGSTREAM_MODEL_DIR" --threads 2 \
    --k 6 --init-sample 300 --window 30d --pane 1d --half-life 7d --future-skew 3650d

"$to_avro" "$work/events.avro" deflate < "$work/events.ndjson"
suffix="$$-$(date +%s%N)"
t_seg="report-test-segments-$suffix"
t_chg="report-test-changes-$suffix"
"$SEGSTREAM_BIN" produce --brokers "$SEGSTREAM_BROKERS" --topic "$t_seg" --schema segment --create-topic 3 \
    < "$work/segments.ndjson"
"$SEGSTREAM_BIN" produce --brokers "$SEGSTREAM_BROKERS" --topic "$t_chg" --schema segment_change --create-topic 3 \
    < "$work/changes.ndjson"

"$SEGSTREAM_BIN" report --segments "$work/segments.ndjson" --changes "$work/changes.ndjson" \
    --events "$work/events.ndjson" -o "$work/from-files.html"
"$SEGSTREAM_BIN" report --brokers "$SEGSTREAM_BROKERS" --topic "$t_seg" --changes-topic "$t_chg" \
    --events "$work/events.avro" -o "$work/from-topics.html" 2> "$work/topics.log" \
    || { cat "$work/topics.log"; fail "report from topics"; }
cat "$work/topics.log"
grep -q "$(wc -l < "$work/segments.ndjson") segment records from topic $t_seg" "$work/topics.log" \
    || fail "not every catalog record was read from $t_seg"
grep -q "$(wc -l < "$work/changes.ndjson") segment_change records from topic $t_chg" "$work/topics.log" \
    || fail "not every change was read from $t_chg"
grep -q "Catalog: topic $t_seg; changes: topic $t_chg" "$work/from-topics.html" || fail "sources not named"
diff <(grep -v 'class="meta">Catalog:' "$work/from-files.html") \
     <(grep -v 'class="meta">Catalog:' "$work/from-topics.html") > "$work/diff" \
    || { head -c 2000 "$work/diff"; fail "the page from topics differs from the page from files"; }

if "$SEGSTREAM_BIN" report --brokers "$SEGSTREAM_BROKERS" --topic "report-test-missing-$suffix" --timeout 3 \
    -o "$work/none.html" 2> "$work/missing.log"; then
    fail "a missing topic was not an error"
fi
grep -q "report-test-missing-$suffix" "$work/missing.log" || { cat "$work/missing.log"; fail "error does not name the topic"; }
echo OK
