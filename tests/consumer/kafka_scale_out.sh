#!/usr/bin/env bash
# kafka_scale_out.sh KAFKA_INSPECT [plain|kill|pause] - several `segstream run`
# instances in one consumer group share one model through the model topic
# (topics.model).
#
# 6,000 labelled StackOverflow titles (one user each, 12 s apart: 20 one-hour
# panes, so about 20 barriers) go to an input topic of 6 partitions, read by
# two groups with their own output, catalog, state, dead-letter and model
# topics: "one", a single instance, and "three", three instances started
# together. In kill mode one of the three is killed with kill -9 after a
# random number of committed batches and not restarted: the other two must
# take its partitions over (its last committed state, its open transaction
# aborted by the broker after transaction.timeout.ms); 3 s later a fourth
# instance joins, so partitions also move between live instances. In pause
# mode one of the three is stopped (SIGSTOP) for 20 s, past its session
# timeout, then resumed: a zombie whose partitions the others took; what it
# had open must not commit (its transactions carry its stale group
# generation), and it rejoins.
#
# Checks: both groups committed every input offset; the outputs hold no
# event id twice (read_committed); every segment id a change names is in the
# group's catalog (one id space across instances: the catalog comes from
# whichever instance owns input partition 0); every user ends in a segment;
# the three-instance run's NMI against the titles' tags is within 0.01 of
# the single instance's and its active segments within 1 (issue 6).
set -euo pipefail
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
inspect=${1:?usage: kafka_scale_out.sh KAFKA_INSPECT [plain|kill|pause]}
mode=${2:-plain}
events=${SEGSTREAM_SCALE_EVENTS:-6000}
seed=${SEGSTREAM_KILL_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
parts=6
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
id="so-$mode-$(date +%s%N | cut -c1-13)-$$"
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
export SEGSTREAM_BROKERS=$brokers OMP_WAIT_POLICY=passive
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "${SEGSTREAM_KEEP_WORK:-}" ]; then echo "work files kept in $work"; else rm -rf "$work"; fi
  timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$brokers" --delete --topic "$id-.*" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
echo "mode $mode, seed $seed, $events events on $parts partitions"

python3 "$here/scale_out_check.py" events "$events" 7 "$work/events.ndjson" "$work/labels.tsv"
for run in one three; do
  cat > "$work/$run.properties" <<PROPS
model.path=$SEGSTREAM_MODEL_DIR
encoder.threads=1
cluster.k=20
cluster.init_sample=500
cluster.window=30d
cluster.pane=1h
cluster.half_life=7d
cluster.max_future_skew=3650d
cluster.shared_model=true
topics.input=$id-in
topics.output=$id-$run-out
topics.segments=$id-$run-seg
topics.state=$id-$run-state
topics.dlq=$id-$run-dlq
topics.model=$id-$run-model
topics.create=true
group.id=$id-$run
batch.max_events=200
batch.max_ms=200
metrics.listen=
log.level=debug
kafka.bootstrap.servers=$brokers
kafka.session.timeout.ms=6000
kafka.transaction.timeout.ms=10000
PROPS
done
"$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic "$parts" < "$work/events.ndjson" 2> "$work/produce.log" ||
  { cat "$work/produce.log"; fail "producing the events"; }

# run NAME INSTANCE: one instance in the background, its log in $work/NAME-INSTANCE.log
run() {
  "$SEGSTREAM_BIN" run -c "$work/$1.properties" --set "instance.id=$1-$2" --exit-when-idle "$idle" \
    2> "$work/$1-$2.log" &
  pids+=($!)
}
idle=10
t0=$SECONDS
run one 0
wait "${pids[0]}" || { tail -n 30 "$work/one-0.log"; fail "the single instance failed"; }
echo "one instance: $(grep -c '"batch committed"' "$work/one-0.log") transactions in $((SECONDS - t0)) s"

t0=$SECONDS
pids=()
[ "$mode" != plain ] && idle=40 # the survivors wait out the session and transaction timeouts
for i in 0 1 2; do run three "$i"; done
if [ "$mode" = pause ]; then # a zombie: stopped past its session timeout, then resumed
  batches=$((3 + RANDOM % 12))
  while [ "$(grep -c '"batch committed"' "$work/three-1.log")" -lt "$batches" ] && kill -0 "${pids[1]}" 2>/dev/null; do
    sleep 0.02
  done
  delay_ms=$((RANDOM % 2000)) # most stops land inside a batch: its transaction resumes 20 s later
  sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
  kill -STOP "${pids[1]}" || fail "instance 1 ended before its pause"
  echo "instance 1 stopped after $(grep -c '"batch committed"' "$work/three-1.log") transactions (+$delay_ms ms), for 20 s"
  sleep 20
  kill -CONT "${pids[1]}"
fi
if [ "$mode" = kill ]; then
  batches=$((3 + RANDOM % 12)) # of about 22
  delay_ms=$((RANDOM % 400))
  victim=${pids[1]}
  while [ "$(grep -c '"batch committed"' "$work/three-1.log")" -lt "$batches" ] && kill -0 "$victim" 2>/dev/null; do
    sleep 0.02
  done
  sleep "0.$(printf %03d "$delay_ms")"
  kill_ts="{\"ts\":\"$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"
  kill -9 "$victim" 2>/dev/null || fail "instance 1 ended before its kill (after $batches transactions)"
  wait "$victim" 2>/dev/null || true
  echo "instance 1 killed after $(grep -c '"batch committed"' "$work/three-1.log") transactions (+$delay_ms ms)"
  # a fourth instance joins while the survivors take over: partitions move between live instances too
  sleep 3
  run three 3
fi
# failure_log LOG: a sanitizer's report whole (its stack is what tells the bug), else the log's end
failure_log() {
  if grep -q '^==[0-9]*==ERROR' "$1"; then sed -n '/^==[0-9]*==ERROR/,$p' "$1" | head -n 120; else tail -n 30 "$1"; fi
}
instances=(0 1 2)
[ "$mode" = kill ] && instances=(0 2 3)
for i in "${instances[@]}"; do
  wait "${pids[$i]}" || { failure_log "$work/three-$i.log"; fail "instance $i of three failed"; }
done
pids=()
for i in 0 1 2 $([ "$mode" = kill ] && echo 3); do
  echo "three, instance $i: $(grep -c '"batch committed"' "$work/three-$i.log") transactions," \
       "$(grep -c '"assigned ' "$work/three-$i.log") assignments," \
       "last owned $(grep -o 'restored [0-9]* partition models' "$work/three-$i.log" | tail -1 | grep -o '[0-9]*' || echo 0) partitions"
done
echo "three instances done in $((SECONDS - t0)) s"
if [ "$mode" = pause ]; then
  echo "instance 1 after its pause: $(grep -c 'aborting the transaction' "$work/three-1.log") transactions aborted," \
       "$(grep -o '"msg":"[^"]*transaction[^"]*"' "$work/three-1.log" | grep -v committed | head -3 | tr '\n' ' ')"
fi
if [ "$mode" = kill ]; then # the dead instance's partitions were taken over, with their state
  lost=$(grep -o 'restored [0-9]* partition models \[[0-9,]*\]' "$work/three-1.log" | tail -1 | sed 's/.*\[//; s/\]//')
  [ -n "$lost" ] || fail "instance 1 never owned partitions"
  for p in ${lost//,/ }; do
    grep -h '"restored [0-9]* partition models' "$work/three-0.log" "$work/three-2.log" "$work/three-3.log" |
      awk -v k="$kill_ts" '$0 > k' | grep -q "\[\([0-9]*,\)*$p\(,[0-9]*\)*\]" ||
      fail "partition $p of the killed instance was not restored by another instance after the kill"
  done
  echo "partitions $lost of the killed instance were taken over"
fi

for run in one three; do
  "$inspect" offsets "$id-$run" "$id-in" > "$work/$run.offsets"
  awk '$2 != $3 { bad = 1 } END { exit bad }' "$work/$run.offsets" ||
    { cat "$work/$run.offsets"; fail "run $run: committed offsets (2nd column) short of the input's end (3rd)"; }
  for t in out seg; do
    "$SEGSTREAM_BIN" consume --brokers "$brokers" --topic "$id-$run-$t" --from-beginning --to-end --timeout 30 \
      > "$work/$run-$t.ndjson" 2> "$work/consume.log" || { cat "$work/consume.log"; fail "reading $id-$run-$t"; }
  done
  "$inspect" dump "$id-$run-dlq" > "$work/$run-dlq.dump"
  [ ! -s "$work/$run-dlq.dump" ] || { head -c 2000 "$work/$run-dlq.dump"; fail "run $run: dead letters"; }
done
if cmp -s "$work/one-seg.ndjson" "$work/three-seg.ndjson"; then
  echo "the catalogs of one and three instances are equal byte for byte"
else
  echo "the catalogs of one and three instances differ (allowed: the barriers may fall otherwise)"
fi
python3 "$here/scale_out_check.py" check "$work/labels.tsv" one "$work/one-out.ndjson" "$work/one-seg.ndjson" \
  three "$work/three-out.ndjson" "$work/three-seg.ndjson" || fail "the runs differ (seed $seed)"
echo "OK"
