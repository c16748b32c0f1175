#!/usr/bin/env bash
# kafka_stage.sh MODE - `segstream run` on Kafka against the real broker.
#   e2e:     300 MovieLens events -> input topic -> `run -c props --exit-when-idle`
#            -> output topic (read_committed) = file mode's changes on the same events;
#            topics.create made the state and catalog topics compacted; a state topic
#            that deletes by age, or none, is refused at start.
#   restart: the first 150 events, stop (idle), the other 150, run again -> the same
#            output as one uninterrupted run: state from the state topic, offsets from
#            the group, no duplicates, no gaps.
#   kill:    300 events in batches of 10; the stage is killed with SIGKILL after its
#            first committed batch (a transaction is likely open), then run again ->
#            read_committed output equal to an uninterrupted run's (the restarted
#            producer fences and aborts the dead one's transaction).
#   confluent: the 300 events in Confluent framing (schema id 17); the stage maps the id
#            with schema.registry.ids=17=interest_change -> the same output as e2e; a
#            first run without the mapping sends every record to the dead-letter topic
#            (DECODE_ERROR: unknown schema id), with the original bytes.
#   join:    300 events on 3 partitions; a second instance joins the group while the
#            first is running, so each holds part of the input: both hold back
#            (neither commits a batch) until the second stops; then the first takes
#            all partitions and finishes -> output equal, line for line, to a run that
#            was alone in its group (an order fixed by event time across partitions).
#   lostcommit: 300 events in batches of 10; the third commit reaches the broker but
#            the stage is told it failed fatally (SEGSTREAM_TEST_LOSE_COMMIT=3, as when
#            EndTxn's response is lost): it recreates the producer and takes state and
#            offsets back from the topics, not from its own older copy (which would
#            write that batch twice) -> the same output as e2e.
#   fence:   300 events in batches of 10, run once per step of a transaction (begin,
#            produce, offsets, commit) and after the assignment: at that step of the
#            third transaction a second producer with the stage's transactional id
#            fences it (SEGSTREAM_TEST_FENCE, as the broker does to a transaction left
#            open past transaction.timeout.ms); the stage recreates its producer, reads
#            state and offsets back and goes on -> each run's output = file mode's. The
#            same at the second barrier publish of a one-instance scale-out run (topics.model),
#            whose output must equal an unfenced scale-out run's byte for byte.
#   poison KAFKA_RAW: garbage bytes, a wrong magic, a truncated record and a record
#            without text between 100 good events -> the dead-letter topic with the
#            original key and value and the segstream.* headers; an event whose text
#            is invalid UTF-8 is repaired and processed (the pipeline's rule), and the
#            good events are all processed.
# Comparison (compare_changes.py): every field exactly, similarity included (the
# encoder is batch-invariant, so poll batches and file mode's chunks give the same
# floats), except source_offset (file mode counts lines from 1, Kafka offsets from 0). File mode also runs
# segstream_pipeline_finish() at the end of its input, which the stream never does,
# so the stream's output must be a prefix of file mode's covering at least 90%.
# SEGSTREAM_TEST_SHARED_MODEL=true runs both with the shared model (cluster.shared_model).
set -euo pipefail
. "$(dirname "$0")/stage_props.sh"
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
mode=${1:?usage: kafka_stage.sh e2e|restart|kill|confluent|join|lostcommit|fence|poison KAFKA_RAW}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
id="st-$mode-$(date +%s%N | cut -c1-13)-$$"
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
cleanup() {
  [ -n "${SEGSTREAM_KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
  local fenced=()
  for step in begin produce offsets commit assign barrier ref twin; do
    for t in out seg state dlq model; do fenced+=("$step-$t"); done
  done
  for t in in out seg state dlq unmapped-out r-out r-seg r-state r-dlq badstate nostate "${fenced[@]}"; do
    timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$brokers" --delete --topic "$id-$t" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 300 \
  -o "$work/events.ndjson"
{
  stage_properties "$id" "$brokers"
} > "$work/stage.properties"
stage() { # runs the stage until it has been idle for 5 s
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen=127.0.0.1:0 --exit-when-idle 5 \
    2>> "$work/stage.log" || { cat "$work/stage.log"; exit 1; }
}

case $mode in
e2e)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1 < "$work/events.ndjson"
  # In the background, to read /readyz and /metrics in the 5 idle seconds after the batch.
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen=127.0.0.1:0 \
    --exit-when-idle 5 2> "$work/stage.log" &
  pid=$!
  for _ in $(seq 1 600); do grep -q '"metrics on port' "$work/stage.log" && break; sleep 0.1; done
  port=$(grep -o '"metrics on port [0-9]*' "$work/stage.log" | grep -o '[0-9]*$')
  for _ in $(seq 1 600); do # until every event is committed (one batch or several)
    curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics.txt" || true
    grep -q '^segstream_events_in_total 300$' "$work/metrics.txt" && break
    sleep 0.1
  done
  ready=$(curl -s "http://127.0.0.1:$port/readyz" || true) # a stage that already exited: its log below
  wait "$pid" || { cat "$work/stage.log"; exit 1; }
  [ "$ready" = ready ] || { cat "$work/stage.log" "$work/metrics.txt"; echo "/readyz said '$ready'"; exit 1; }
  for m in 'segstream_events_in_total 300' 'segstream_transactions_total [1-9]' \
           'segstream_model_version [1-9]'; do
    grep -q "^$m" "$work/metrics.txt" || { cat "$work/metrics.txt"; echo "metrics: no '$m'"; exit 1; }
  done
  # topics.create made the topics as deploy/kafka/topics.sh does: checkpoints and catalog compacted
  desc=$(timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$brokers" --describe --topic "$id-(state|seg|dlq)" 2>/dev/null | grep 'PartitionCount')
  for want in "$id-state.*cleanup.policy=compact" "$id-state.*max.message.bytes=8388608" \
              "$id-seg.*cleanup.policy=compact" "$id-dlq.*max.message.bytes=2097152"; do
    grep -q "^Topic: $want" <<<"$desc" || { echo "$desc"; echo "topics.create: no topic config '$want'"; exit 1; }
  done
  # a state topic that deletes by age (the broker's default policy), and a missing one: refused at start
  timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$brokers" --create --topic "$id-badstate" --partitions 1 --replication-factor 1 >/dev/null
  for bad in badstate nostate; do
    if "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= --set topics.create=false \
         --set topics.state="$id-$bad" --exit-when-idle 1 2> "$work/bad.log"; then
      cat "$work/bad.log"; echo "the stage started with topics.state=$id-$bad"; exit 1
    fi
    grep -q "\"msg\":\"fatal: topics.state: topic $id-$bad" "$work/bad.log" || { cat "$work/bad.log"; exit 1; }
  done ;;
confluent)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1 --framing confluent --schema-id 17 < "$work/events.ndjson"
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= --set group.id="$id-unmapped" \
    --set topics.dlq="$id-dlq" --set topics.output="$id-unmapped-out" --exit-when-idle 5 2>> "$work/stage.log" ||
    { cat "$work/stage.log"; exit 1; }
  grep -q '"stopped","events":0,' "$work/stage.log" || { cat "$work/stage.log"; echo "unmapped ids were decoded"; exit 1; }
  n=$("$SEGSTREAM_BIN" consume --topic "$id-dlq" --from-beginning --to-end --timeout 30 --schema interest_change \
        --schema-id 17=interest_change 2>/dev/null | wc -l)
  [ "$n" = 300 ] || { echo "expected the 300 unmapped records in the dead-letter topic, got $n"; exit 1; }
  : > "$work/stage.log"
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= --set schema.registry.ids=17=interest_change \
    --exit-when-idle 5 2>> "$work/stage.log" || { cat "$work/stage.log"; exit 1; } ;;
restart)
  head -n 150 "$work/events.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1
  stage
  grep -q '"no snapshot on' "$work/stage.log" || { cat "$work/stage.log"; echo "first run did not start empty"; exit 1; }
  tail -n +151 "$work/events.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in"
  : > "$work/stage.log"
  stage
  grep -q '"restored a' "$work/stage.log" || { cat "$work/stage.log"; echo "second run did not restore"; exit 1; }
  grep -q '"stopped","events":150,' "$work/stage.log" || { cat "$work/stage.log"; echo "second run did not read exactly the new 150 events"; exit 1; } ;;
kill)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1 < "$work/events.ndjson"
  # A short session timeout: the killed member leaves the group within seconds.
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= --set batch.max_events=10 \
    --set log.level=debug --set kafka.session.timeout.ms=6000 2> "$work/killed.log" &
  pid=$!
  for _ in $(seq 1 1200); do
    grep -q '"batch committed"' "$work/killed.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || { cat "$work/killed.log"; echo "the stage ended before the kill"; exit 1; }
  wait "$pid" || true
  grep -q '"batch committed"' "$work/killed.log" || { cat "$work/killed.log"; echo "no batch before the kill"; exit 1; }
  echo "killed after $(grep -c '"batch committed"' "$work/killed.log") committed batches"
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= --set batch.max_events=10 \
    --set kafka.session.timeout.ms=6000 --exit-when-idle 5 2> "$work/stage.log" || { cat "$work/stage.log"; exit 1; }
  grep -q '"restored a' "$work/stage.log" || { cat "$work/stage.log"; echo "the restart did not restore"; exit 1; } ;;
lostcommit)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1 < "$work/events.ndjson"
  SEGSTREAM_TEST_LOSE_COMMIT=3 "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= \
    --set batch.max_events=10 --exit-when-idle 5 2> "$work/stage.log" || { cat "$work/stage.log"; exit 1; }
  grep -q 'injected by SEGSTREAM_TEST_LOSE_COMMIT.*recreating the producer' "$work/stage.log" ||
    { cat "$work/stage.log"; echo "the injected fault did not happen"; exit 1; }
  grep -q '"restored a' "$work/stage.log" ||
    { cat "$work/stage.log"; echo "the state was not read back from the topic after the fault"; exit 1; }
  grep -q '"stopped","events":300,' "$work/stage.log" ||
    { cat "$work/stage.log"; echo "expected each of the 300 events processed once"; exit 1; } ;;
fence)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1 < "$work/events.ndjson"
  "$SEGSTREAM_BIN" run --quiet --input "$work/events.ndjson" --output "$work/file.ndjson" \
    --model "$SEGSTREAM_MODEL_DIR" --source-topic "$id-in" --threads 2 --batch-tokens 8192 --cache 65536 \
    --k 8 --init-sample 50 --window 30d --pane 1d --half-life 7d --future-skew 3650d \
    --set cluster.shared_model="${SEGSTREAM_TEST_SHARED_MODEL:-false}"
  # fenced STEP:N NAME [--set ...]: a run of its own group and topics, fenced at STEP
  fenced() {
    local at=$1 name=$2; shift 2
    local topics=(--set group.id="$id-$name" --set topics.output="$id-$name-out" --set topics.segments="$id-$name-seg"
                  --set topics.state="$id-$name-state" --set topics.dlq="$id-$name-dlq")
    SEGSTREAM_TEST_FENCE=$at "$SEGSTREAM_BIN" run -c "$work/stage.properties" --set metrics.listen= \
      --set batch.max_events=10 "${topics[@]}" "$@" --exit-when-idle 5 2> "$work/$name.log" ||
      { cat "$work/$name.log"; echo "$name: the stage failed"; exit 1; }
    "$SEGSTREAM_BIN" consume --topic "$id-$name-out" --from-beginning --to-end --timeout 30 > "$work/$name.ndjson"
  }
  recovered() { # NAME: the fencing happened, was recovered, and every event went through once
    grep -q 'injected fencing at' "$work/$1.log" || { cat "$work/$1.log"; echo "$1: no fencing was injected"; exit 1; }
    grep -q 'recovered as a stall' "$work/$1.log" && grep -q 'recreating the producer' "$work/$1.log" ||
      { cat "$work/$1.log"; echo "$1: the fenced producer was not recreated"; exit 1; }
  }
  for step in begin produce offsets commit assign; do
    n=3
    [ $step = assign ] && n=1
    fenced "$step:$n" "$step"
    recovered "$step"
    same=$(python3 "$here/compare_changes.py" "$work/$step.ndjson" "$work/file.ndjson") ||
      { echo "$same"; echo "$step: the output differs from file mode's"; exit 1; }
    echo "fenced at $step of $([ $step = assign ] && echo 'the assignment' || echo "transaction $n"): $same"
  done
  scale=(--set cluster.shared_model=true)
  fenced "" ref "${scale[@]}" --set topics.model="$id-ref-model"
  fenced "barrier:2" barrier "${scale[@]}" --set topics.model="$id-barrier-model"
  recovered barrier
  [ -s "$work/ref.ndjson" ] && cmp "$work/ref.ndjson" "$work/barrier.ndjson" ||
    { diff "$work/ref.ndjson" "$work/barrier.ndjson" | head; echo "barrier: output differs from the unfenced run's"; exit 1; }
  echo "fenced at the barrier publish: $(wc -l < "$work/barrier.ndjson") changes, identical to the unfenced run's"
  # A real fencing: a second instance with the same transactional id. The first stops
  # (exit 1) with one line naming it, and its clean-up (the consumer's close revokes
  # through the rebalance callback) frees nothing it still uses (the sanitizer build).
  twin=(--set metrics.listen= --set batch.max_events=10 --set group.id="$id-twin" --set topics.output="$id-twin-out"
        --set topics.segments="$id-twin-seg" --set topics.state="$id-twin-state" --set topics.dlq="$id-twin-dlq")
  # one event a transaction: the first is still busy when the second takes its id
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" "${twin[@]}" --set batch.max_events=1 --set log.level=debug \
    --exit-when-idle 5 \
    2> "$work/twin1.log" &
  first=$!
  for _ in $(seq 1 600); do grep -q '"batch committed"' "$work/twin1.log" && break; sleep 0.05; done
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" "${twin[@]}" --exit-when-idle 3 2> "$work/twin2.log" ||
    { cat "$work/twin2.log"; echo "twin: the second instance failed"; exit 1; }
  rc=0; wait "$first" || rc=$?
  [ "$rc" = 1 ] && grep -q '"fatal: fenced: another instance uses transactional id' "$work/twin1.log" &&
    ! grep -q 'Sanitizer' "$work/twin1.log" ||
    { cat "$work/twin1.log"; echo "twin: the fenced instance did not stop cleanly (exit $rc)"; exit 1; }
  echo "a second instance with the same transactional id: the first stopped with exit 1 and one line"
  exit 0 ;;
join)
  "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 3 < "$work/events.ndjson"
  opts=(--set metrics.listen= --set batch.max_events=10 --set log.level=debug --set kafka.session.timeout.ms=6000)
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" "${opts[@]}" --exit-when-idle 8 2> "$work/a.log" &
  a=$!
  for _ in $(seq 1 1200); do grep -q '"batch committed"' "$work/a.log" && break; sleep 0.05; done
  : > "$work/b.log"
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" "${opts[@]}" --set instance.id=second 2> "$work/b.log" &
  b=$!
  for _ in $(seq 1 1200); do
    grep -q 'waiting up to' "$work/a.log" && grep -q 'waiting up to' "$work/b.log" && break
    sleep 0.05
  done
  grep -q 'waiting up to' "$work/b.log" && grep -q 'waiting up to' "$work/a.log" ||
    { cat "$work/a.log" "$work/b.log"; kill "$a" "$b"; echo "no instance held a partial assignment back"; exit 1; }
  sleep 3
  kill -TERM "$b"
  wait "$b" || { cat "$work/b.log"; echo "the second instance failed"; exit 1; }
  wait "$a" || { cat "$work/a.log"; echo "the first instance failed"; exit 1; }
  ! grep -q '"batch committed"' "$work/b.log" || { cat "$work/b.log"; echo "the second instance processed a part"; exit 1; }
  sed -n '/waiting up to/,$p' "$work/a.log" | sed '/"assigned 3 partitions"/q' | grep -q '"batch committed"' &&
    { cat "$work/a.log"; echo "the first instance processed a part"; exit 1; }
  echo "both held back; the first committed $(grep -c '"batch committed"' "$work/a.log") batches in all"
  # the reference: alone in its own group
  "$SEGSTREAM_BIN" run -c "$work/stage.properties" "${opts[@]}" --set group.id="$id-r" --set topics.output="$id-r-out" \
    --set topics.segments="$id-r-seg" --set topics.state="$id-r-state" --set topics.dlq="$id-r-dlq" \
    --exit-when-idle 5 2> "$work/r.log" || { cat "$work/r.log"; exit 1; }
  for t in out r-out; do
    "$SEGSTREAM_BIN" consume --topic "$id-$t" --from-beginning --to-end --timeout 30 > "$work/$t.ndjson"
  done
  [ -s "$work/out.ndjson" ] && cmp "$work/out.ndjson" "$work/r-out.ndjson" ||
    { diff "$work/out.ndjson" "$work/r-out.ndjson" | head; echo "output differs from the uninterrupted run's"; exit 1; }
  echo "$(wc -l < "$work/out.ndjson") changes, identical to the uninterrupted run's"
  exit 0 ;;
poison)
  raw=${2:?poison needs the kafka_raw tool}
  head -n 100 "$work/events.ndjson" > "$work/good.ndjson"
  head -n 50 "$work/good.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic 1
  python3 - "$work/good.ndjson" > "$work/poison.txt" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
e = ev[49]
def rec(eid, user, text):
    return json.dumps(dict(e, event_id=eid, user_id=user, text=text))
print("p-garbage hex 68656c6c6f2c20706f69736f6e")
print("p-magic hex c3020102030405060708020a")
print("p-trunc trunc " + json.dumps(ev[50]))
print("p-notext json " + rec("p-notext", "u-notext", None))
print("p-utf8 badutf8 " + rec("p-utf8", "u-badutf8", "Xliked: Heat (1995) - Action, Crime, Thriller"))
PY
  "$raw" produce "$id-in" < "$work/poison.txt"
  tail -n +51 "$work/good.ndjson" | "$SEGSTREAM_BIN" produce --topic "$id-in"
  stage
  grep -q '"stopped","events":102,"changes":[1-9][0-9]*,"dead_letters":1,' "$work/stage.log" ||
    { cat "$work/stage.log"; echo "expected 102 decoded events, 1 pipeline dead letter"; exit 1; }
  "$raw" dump "$id-dlq" > "$work/dlq.txt"
  cat "$work/dlq.txt"
  [ "$(wc -l < "$work/dlq.txt")" -eq 4 ] || { echo "expected 4 dead letters"; exit 1; }
  expect() { # line key reason offset [value]
    l=$(sed -n "$1p" "$work/dlq.txt")
    case "$l" in "key=$2 value=${5:-}"*) ;; *) echo "dead letter $1: key/value"; exit 1 ;; esac
    for h in "segstream.error.reason=$3" "segstream.source.topic=$id-in" "segstream.source.partition=0" \
             "segstream.source.offset=$4" "segstream.error.message=[^ ]" "segstream.source.timestamp=[0-9]"; do
      grep -q " $h" <<< "$l" || { echo "dead letter $1: no header $h"; exit 1; }
    done
  }
  expect 1 p-garbage DECODE_ERROR 50 68656c6c6f2c20706f69736f6e
  expect 2 p-magic DECODE_ERROR 51 c3020102030405060708020a
  expect 3 p-trunc DECODE_ERROR 52
  expect 4 p-notext MISSING_TEXT 53
  "$SEGSTREAM_BIN" consume --topic "$id-out" --from-beginning --to-end --timeout 30 > "$work/kafka.ndjson"
  grep -q '"user_id":"u-badutf8"' "$work/kafka.ndjson" || { echo "the repaired event made no change"; exit 1; }
  echo "poison messages dead-lettered with headers; $(wc -l < "$work/kafka.ndjson") changes from the rest"
  exit 0 ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac

"$SEGSTREAM_BIN" consume --topic "$id-out" --from-beginning --to-end --timeout 30 > "$work/kafka.ndjson"
if [ "$mode" = e2e ]; then # the counter counts what reached the topic, no more, no less
  out=$(wc -l < "$work/kafka.ndjson")
  grep -q "^segstream_events_out_total $out\$" "$work/metrics.txt" ||
    { grep '^segstream_events_out_total' "$work/metrics.txt"; echo "metrics: events out != $out records on $id-out"; exit 1; }
fi
"$SEGSTREAM_BIN" run --quiet --input "$work/events.ndjson" --output "$work/file.ndjson" \
  --model "$SEGSTREAM_MODEL_DIR" --source-topic "$id-in" --threads 2 --batch-tokens 8192 --cache 65536 \
  --k 8 --init-sample 50 --window 30d --pane 1d --half-life 7d --future-skew 3650d \
  --set cluster.shared_model="${SEGSTREAM_TEST_SHARED_MODEL:-false}"
python3 "$here/compare_changes.py" "$work/kafka.ndjson" "$work/file.ndjson"
