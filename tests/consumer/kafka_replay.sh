#!/usr/bin/env bash
# kafka_replay.sh - `segstream replay` gives the live run's output for the same
# range from the same state, against the real broker, on a 2-partition input:
#   1. 300 MovieLens events, the live stage until idle; `segstream state export`
#      saves its snapshot and committed offsets;
#   2. 300 more events, the live stage again (restores, continues);
#   3. replay --from-offset <exported> --state <snapshot> into another topic
#      = the live output of step 2, record for record, byte for byte;
#   4. replay --from-time 0 from a fresh state = the whole live output;
#   5. replay --to-time between the halves' produce times = the live output of step 1.
# Byte for byte means the NDJSON of every record, similarity included: the
# partition merge fixes the order and the encoder is batch-invariant, so batch
# boundaries (which differ between the runs) change nothing.
set -euo pipefail
. "$(dirname "$0")/stage_props.sh"
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
work=$(mktemp -d)
id="replay-$(date +%s%N | cut -c1-13)-$$"
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
cleanup() {
  rm -rf "$work"
  for t in in out seg state dlq r1 r1.segments r2 r2.segments r3 r3.segments; do
    timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$brokers" --delete --topic "$id-$t" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 600 \
  -o "$work/events.ndjson"
{
  stage_properties "$id" "$brokers"
  cat <<PROPS
batch.max_events=40
metrics.listen=
PROPS
} > "$work/stage.properties"
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -n 20 "$f"; done; exit 1; }
consume() { "$SEGSTREAM_BIN" consume --topic "$1" --from-beginning --to-end --timeout 30; }
stage() { "$SEGSTREAM_BIN" run -c "$work/stage.properties" --exit-when-idle 5 2>> "$work/stage.log" || fail "stage"; }
replay() { "$SEGSTREAM_BIN" replay -c "$work/stage.properties" "$@" 2>> "$work/replay.log" || fail "replay $*"; }
same() { # name expected actual
  [ -s "$2" ] || fail "$1: nothing expected (empty reference)"
  cmp -s "$2" "$3" || { diff "$2" "$3" | head -n 6; fail "$1: $(wc -l < "$3") records, expected $(wc -l < "$2")"; }
  echo "$1: $(wc -l < "$3") records equal"
}

# The input topic with 2 partitions (keyed by user: each user's events in one).
head -n 300 "$work/events.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 2
stage
"$SEGSTREAM_BIN" state export -c "$work/stage.properties" -o "$work/state.bin" > "$work/offsets.txt" \
  2>> "$work/stage.log" || fail "state export"
echo "exported state at offsets $(cat "$work/offsets.txt")"
consume "$id-out" > "$work/live1.ndjson"
sleep 1; mid=$(date +%s%3N); sleep 1 # record timestamps: produce time
tail -n +301 "$work/events.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in"
stage
consume "$id-out" > "$work/live.ndjson"
n1=$(wc -l < "$work/live1.ndjson")
tail -n +$((n1 + 1)) "$work/live.ndjson" > "$work/live2.ndjson"

replay --from-offset "$(cat "$work/offsets.txt")" --state "$work/state.bin" --output-topic "$id-r1"
consume "$id-r1" > "$work/r1.ndjson"
same "replay from the exported state" "$work/live2.ndjson" "$work/r1.ndjson"

replay --from-time 0 --output-topic "$id-r2"
consume "$id-r2" > "$work/r2.ndjson"
same "replay of everything from a fresh state" "$work/live.ndjson" "$work/r2.ndjson"

# --to-time between the two halves' produce times: exactly the first half.
replay --from-time 0 --to-time "$mid" --output-topic "$id-r3"
consume "$id-r3" > "$work/r3.ndjson"
same "replay of the first half (--to-time)" "$work/live1.ndjson" "$work/r3.ndjson"

# Refused: replaying into the live output topic.
if "$SEGSTREAM_BIN" replay -c "$work/stage.properties" --from-time 0 --output-topic "$id-out" 2> "$work/refused.log"; then
  fail "replay into topics.output was accepted"
fi
grep -q "topics.output" "$work/refused.log" || fail "no clear message: $(cat "$work/refused.log")"
echo "replay equality holds"
