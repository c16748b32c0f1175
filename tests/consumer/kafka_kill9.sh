#!/usr/bin/env bash
# kafka_kill9.sh PARTITIONS KAFKA_INSPECT [SEED] - `segstream run` killed with
# SIGKILL at random points must give the same read_committed output as a run
# that was never interrupted.
#
# 20,000 MovieLens events go to one input topic of PARTITIONS partitions, read
# by two runs with their own groups and output, catalog, state and dead-letter
# topics (one input topic, because every output record names its source
# topic). Run R processes it in one go, in the background; meanwhile run K is
# killed with
# kill -9 five times at seeded random points: after a random number of
# committed batches (0 to 5) plus a random 0-400 ms, so that most kills land
# inside an open transaction and some during start-up (model load, restore,
# group join); after each kill a new process starts (it fences the dead one's
# transaction and restores the last committed snapshot), the last one runs
# until its input is done (--exit-when-idle).
#
# Checks, in this order:
# - both groups committed every input offset (no event left behind);
# - the segment-change topics are equal byte for byte: per output partition,
#   the records in offset order, key and value bytes (the dumps leave offsets
#   out: aborted transactions use offsets too). Per partition in order rather
#   than per key: outputs are keyed by user id, so per-partition order contains
#   per-key order and additionally pins how users interleave, which is what a
#   consumer of the partition sees; the stage applies events in a
#   deterministic order, so it must hold, and it is the stronger check.
# - no duplicate event_id in either run (so no output was committed twice);
# - the catalog and dead-letter topics are equal byte for byte the same way;
# - no dead letters in either run (every input event is valid).
# On a difference compare_runs.py says which records and fields differ.
# SEGSTREAM_TEST_SHARED_MODEL=true runs both with the shared model (cluster.shared_model).
# SEGSTREAM_KILLS=0 runs the same comparison without kills (two uninterrupted
# runs), which tells differences due to the kills from differences between runs.
# The seed: $SEGSTREAM_KILL_SEED, else the third argument, else from the clock;
# it is printed so that a failing run's kill points can be replayed (the points
# are counted in committed batches, so they reproduce up to timing).
set -euo pipefail
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
parts=${1:?usage: kafka_kill9.sh PARTITIONS KAFKA_INSPECT [SEED]}
inspect=${2:?usage: kafka_kill9.sh PARTITIONS KAFKA_INSPECT [SEED]}
seed=${SEGSTREAM_KILL_SEED:-${3:-$(( $(date +%s) % 32768 ))}}
kills=${SEGSTREAM_KILLS:-5}
events=${SEGSTREAM_KILL_EVENTS:-20000}
RANDOM=$seed
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
id="k9-p$parts-$(date +%s%N | cut -c1-13)-$$"
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
export SEGSTREAM_BROKERS=$brokers OMP_WAIT_POLICY=passive
pid= ref_pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "$ref_pid" ] && kill -9 "$ref_pid" 2>/dev/null
  if [ -n "${SEGSTREAM_KEEP_WORK:-}" ]; then echo "work files kept in $work"; else rm -rf "$work"; fi
  # one JVM for all of them: --topic takes a regular expression
  timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$brokers" --delete --topic "$id-.*" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
echo "seed $seed (SEGSTREAM_KILL_SEED=$seed reruns these kill points), $parts input partitions, $events events"

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit "$events" \
  -o "$work/events.ndjson"
for run in r k; do
  # Both runs: the same settings. Batches of 500 make 40 transactions, so that
  # five kills at random batch counts fit in one pass over the input;
  # init_sample 200 bootstraps the model inside the first batch or two.
  cat > "$work/$run.properties" <<PROPS
model.path=$SEGSTREAM_MODEL_DIR
encoder.threads=2
cluster.k=16
cluster.init_sample=200
cluster.window=90d
cluster.pane=1d
cluster.half_life=30d
cluster.max_future_skew=3650d
cluster.shared_model=${SEGSTREAM_TEST_SHARED_MODEL:-false}
topics.input=$id-in
topics.output=$id-$run-out
topics.segments=$id-$run-seg
topics.state=$id-$run-state
topics.dlq=$id-$run-dlq
topics.create=true
group.id=$id-$run
batch.max_events=500
batch.max_ms=500
metrics.listen=
log.level=debug
kafka.bootstrap.servers=$brokers
kafka.session.timeout.ms=6000
PROPS
done
"$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic "$parts" < "$work/events.ndjson" 2> "$work/produce.log" ||
  { cat "$work/produce.log"; fail "producing the events"; }

start=$SECONDS
timeout 600 "$SEGSTREAM_BIN" run -c "$work/r.properties" --exit-when-idle 5 2> "$work/r.log" &
ref_pid=$!

t0=$SECONDS
done_early=0 killed=0
for i in $(seq 1 "$kills"); do
  batches=$((RANDOM % 6))
  delay_ms=$((RANDOM % 400))
  [ "$batches" -eq 0 ] && delay_ms=$((RANDOM % 3000)) # during start-up
  log="$work/k$i.log"
  : > "$log" # exists before the background job's redirection does
  born=$SECONDS
  "$SEGSTREAM_BIN" run -c "$work/k.properties" --exit-when-idle 5 2> "$log" &
  pid=$!
  while [ "$(grep -c '"batch committed"' "$log")" -lt "$batches" ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.02
  done
  sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
  if ! kill -9 "$pid" 2>/dev/null; then
    wait "$pid" || { tail -n 30 "$log"; fail "instance $i failed before its kill"; }
    pid=
    echo "instance $i finished the input before its kill"
    [ "$i" -gt 3 ] || fail "only $((i - 1)) kills before the input was done: more events or smaller batches"
    done_early=1
    break
  fi
  wait "$pid" 2>/dev/null || true
  pid=
  killed=$((killed + 1))
  echo "instance $i: killed after $(grep -c '"batch committed"' "$log") committed batches (+${delay_ms} ms)," \
       "after $((SECONDS - born)) s" \
       "$(grep -q '"assigned' "$log" || echo '(before its assignment)')"
done
if [ "$done_early" -eq 0 ]; then
  timeout 600 "$SEGSTREAM_BIN" run -c "$work/k.properties" --exit-when-idle 5 2> "$work/k-last.log" ||
    { tail -n 30 "$work/k-last.log"; fail "the last instance failed"; }
  [ "$kills" -eq 0 ] || grep -q '"restored a' "$work/k-last.log" ||
    { tail -n 30 "$work/k-last.log"; fail "the last instance did not restore"; }
  # the state topic keys the model and the users of each input partition apart
  # (before the bootstrap, model version 0, there are no users yet)
  [ "$kills" -eq 0 ] || grep -q '"restored a .*(model version 0)' "$work/k-last.log" ||
    grep -q "\"restored a .*, $((parts + 1)) keys " "$work/k-last.log" ||
    { grep '"restored a' "$work/k-last.log"; fail "the state was not read from $((parts + 1)) keys (model + users of each partition)"; }
  echo "last instance: $(grep -c '"batch committed"' "$work/k-last.log") batches" \
       "(state restored from $(grep -o '[0-9]* keys' "$work/k-last.log" | head -1 || true)); killed run took $((SECONDS - t0)) s"
fi
wait "$ref_pid" || { tail -n 30 "$work/r.log"; fail "the uninterrupted run failed"; }
ref_pid=
echo "uninterrupted run: $(grep -c '"batch committed"' "$work/r.log") batches; both done after $((SECONDS - start)) s"

for run in r k; do
  "$inspect" offsets "$id-$run" "$id-in" > "$work/$run.offsets"
  awk '$2 != $3 { bad = 1 } END { exit bad }' "$work/$run.offsets" ||
    { cat "$work/$run.offsets"; fail "run $run: committed offsets (2nd column) short of the input's end (3rd)"; }
  for t in out seg dlq; do
    "$inspect" dump "$id-$run-$t" > "$work/$run-$t.dump"
  done
done
status=0
for t in out seg dlq; do
  python3 "$here/compare_runs.py" "$work/r-$t.dump" "$work/k-$t.dump" "$t" || status=1
done
for run in r k; do # every event is valid: a dead letter is the stage's doing
  if [ -s "$work/$run-dlq.dump" ]; then
    echo "run $run: $(wc -l < "$work/$run-dlq.dump") dead letters, by reason:"
    grep -o 'segstream.error.reason=[A-Z_]*' "$work/$run-dlq.dump" | sort | uniq -c
    status=1
  fi
done
[ "$status" -eq 0 ] || fail "the killed run's output differs from the uninterrupted run's, or dead letters (seed $seed)"
echo "OK: $(wc -l < "$work/k-out.dump") segment changes and $(wc -l < "$work/k-seg.dump") catalog records" \
     "byte-identical after $killed kills"
