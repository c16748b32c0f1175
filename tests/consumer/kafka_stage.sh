#!/usr/bin/env bash
# kafka_stage.sh MODE - `segstream run` on Kafka against the real broker.
#   e2e:     300 MovieLens events -> input topic -> `run -c props --exit-when-idle`
#            -> output topic (read_committed) = file mode's changes on the same events.
#   restart: the first 150 events, stop (idle), the other 150, run again -> the same
#            output as one uninterrupted run: state from the state topic, offsets from
#            the group, no duplicates, no gaps.
# Comparison (compare_changes.py): every field byte for byte except `similarity`
# (|d| <= 1e-5: the Kafka path encodes per poll batch, file mode in fixed chunks,
# and the encoder's floats depend in the last bits on the pass) and source_offset
# (file mode counts lines from 1, Kafka offsets from 0). File mode also runs
# segstream_pipeline_finish() at the end of its input, which the stream never does,
# so the stream's output must be a prefix of file mode's covering at least 90%.
set -euo pipefail
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
mode=${1:?usage: kafka_stage.sh e2e|restart}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
id="st-$mode-$(date +%s%N | cut -c1-13)-$$"
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
cleanup() {
  rm -rf "$work"
  for t in in out seg state dlq; do
    timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$brokers" --delete --topic "$id-$t" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 300 \
  -o "$work/events.ndjson"
cat > "$work/stage.properties" <<PROPS
model.path=$SEGSTREAM_MODEL_DIR
encoder.threads=2
cluster.k=8
cluster.init_sample=50
cluster.window=30d
cluster.pane=1d
cluster.half_life=7d
cluster.max_future_skew=3650d
topics.input=$id-in
topics.output=$id-out
topics.segments=$id-seg
topics.state=$id-state
topics.dlq=$id-dlq
topics.create=true
group.id=$id
kafka.bootstrap.servers=$brokers
PROPS
stage() { # runs the stage until it has been idle for 5 s
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen=127.0.0.1:0 --exit-when-idle 5 \
    2>> "$work/stage.log" || { cat "$work/stage.log"; exit 1; }
}

case $mode in
e2e)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1 < "$work/events.ndjson"
  stage ;;
restart)
  head -n 150 "$work/events.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1
  stage
  grep -q '"no snapshot on' "$work/stage.log" || { cat "$work/stage.log"; echo "first run did not start empty"; exit 1; }
  tail -n +151 "$work/events.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in"
  : > "$work/stage.log"
  stage
  grep -q '"restored a' "$work/stage.log" || { cat "$work/stage.log"; echo "second run did not restore"; exit 1; }
  grep -q '"stopped","events":150,' "$work/stage.log" || { cat "$work/stage.log"; echo "second run did not read exactly the new 150 events"; exit 1; } ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac

"$SEGSTREAM_BIN" consume --topic "$id-out" --from-beginning --to-end --timeout 30 > "$work/kafka.ndjson"
"$SEGSTREAM_BIN" run --quiet --input "$work/events.ndjson" --output "$work/file.ndjson" \
  --model "$SEGSTREAM_MODEL_DIR" --source-topic "$id-in" --threads 2 --batch-tokens 8192 --cache 65536 \
  --k 8 --init-sample 50 --window 30d --pane 1d --half-life 7d --future-skew 3650d
python3 "$here/compare_changes.py" "$work/kafka.ndjson" "$work/file.ndjson"
