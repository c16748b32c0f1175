#!/usr/bin/env bash
# kafka_shutdown.sh MODE KAFKA_INSPECT - `segstream run` stops cleanly on a
# signal: exit status 0 within $bound s of the signal, and what it had
# processed is committed, no more and no less.
#   term, int: 2,000 MovieLens events on a 2-partition topic, batches of 100;
#          SIGTERM (term) or SIGINT (int) after a seeded random number of
#          committed batches (1-4) plus 0-200 ms, so that a batch is usually
#          being collected or worked. Then:
#          - the committed group offsets add up to the events the process says
#            it processed ("stopped" line): nothing processed but uncommitted,
#            nothing committed but unprocessed;
#          - the output topic (read_committed) holds exactly the changes it says
#            it made, and every one comes from an input offset below its
#            partition's committed offset;
#          - a restart (--exit-when-idle) restores, reads exactly the remaining
#            events, and the output then has unique event ids, every input
#            offset committed.
#   idle:  300 events, all committed, the stage waiting for input: SIGTERM ->
#          exit 0 in time, everything committed, output = its changes.
#   startup: SIGTERM 0-300 ms after start, before the stage logs that it
#          consumes (model load, producer, transactions): exit 0 in time;
#          whatever it committed is consistent as above.
# The seed: $SEGSTREAM_SHUTDOWN_SEED, else from the clock; printed.
set -euo pipefail
. "$(dirname "$0")/stage_props.sh"
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
mode=${1:?usage: kafka_shutdown.sh term|int|idle|startup KAFKA_INSPECT}
inspect=${2:?usage: kafka_shutdown.sh MODE KAFKA_INSPECT}
seed=${SEGSTREAM_SHUTDOWN_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
bound=15
work=$(mktemp -d)
id="sd-$mode-$(date +%s%N | cut -c1-13)-$$"
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
export SEGSTREAM_BROKERS=$brokers OMP_WAIT_POLICY=passive
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  if [ -n "${SEGSTREAM_KEEP_WORK:-}" ]; then echo "work files kept in $work"; else rm -rf "$work"; fi
  # one JVM for all of them: --topic takes a regular expression
  timeout 60 "$SEGSTREAM_ROOT/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$brokers" --delete --topic "$id-.*" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "FAIL ($mode, seed $seed): $*"; for f in "$work"/*.log; do echo "== $f"; tail -n 15 "$f"; done; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

case $mode in
term|int|startup) events=2000 parts=2 ;;
idle) events=300 parts=1 ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "seed $seed, $events events on $parts partitions"
"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit "$events" \
  -o "$work/events.ndjson"
{
  stage_properties "$id" "$brokers" 90d 30d
  cat <<PROPS
batch.max_events=100
batch.max_ms=200
metrics.listen=
log.level=debug
PROPS
} > "$work/stage.properties"
"$SEGSTREAM_BIN" produce --topic "$id-in" --create-topic "$parts" < "$work/events.ndjson" 2> "$work/produce.log" ||
  fail "producing the events"

committed_total() { "$inspect" offsets "$id" "$id-in" | awk '{ s += ($2 < 0 ? 0 : $2) } END { print s + 0 }'; }
stopped_field() { # FIELD LOG: a number from the "stopped" line
  grep '"msg":"stopped"' "$2" | grep -o "\"$1\":[0-9]*" | cut -d: -f2
}
# Output records and their source offsets against the committed offsets: every
# change must come from an input event below its partition's committed offset.
check_outputs() { # EXPECTED_COUNT
  # (a stage stopped during start-up may not have created the topic yet)
  "$inspect" dump "$id-out" > "$work/out.dump" 2> "$work/dump.err" ||
    { [ "$1" -eq 0 ] && grep -q 'no such topic' "$work/dump.err" && return 0; cat "$work/dump.err"; fail "dump"; }
  "$inspect" offsets "$id" "$id-in" > "$work/offsets.txt"
  local n
  n=$(wc -l < "$work/out.dump")
  [ "$n" -eq "$1" ] || fail "$n records on the output topic, the stage reported $1 changes"
  python3 - "$work/out.dump" "$work/offsets.txt" <<'PY' || fail "outputs beyond the committed offsets or duplicated"
import collections, json, sys
committed = {int(p): int(c) for p, c, _ in (l.split() for l in open(sys.argv[2]))}
ids = collections.Counter()
for line in open(sys.argv[1]):
    rec = json.loads(line.rstrip("\n").split("\t", 4)[4])
    ids[rec["event_id"]] += 1
    if rec["source_offset"] >= committed.get(rec["source_partition"], -1):
        sys.exit(f"change {rec['event_id']} from partition {rec['source_partition']} offset "
                 f"{rec['source_offset']}, committed {committed}")
dup = [i for i, c in ids.items() if c > 1]
if dup:
    sys.exit(f"{len(dup)} duplicate event ids, e.g. {dup[:3]}")
PY
}

sig=TERM
[ "$mode" = int ] && sig=INT
: > "$work/first.log" # exists before the background job's redirection does: polling a
                      # missing file read as "no batches" and sent the signal before main()
"$SEGSTREAM_BIN" run -c "$work/stage.properties" --exit-when-idle 60 2> "$work/first.log" &
pid=$!
case $mode in
term|int)
  batches=$((1 + RANDOM % 4)) delay_ms=$((RANDOM % 200))
  while [ "$(grep -c '"batch committed"' "$work/first.log")" -lt "$batches" ]; do
    kill -0 "$pid" 2>/dev/null || fail "the stage ended before the signal"
    sleep 0.02
  done
  sleep "0.$(printf %03d "$delay_ms")"
  what="after $batches committed batches + $delay_ms ms" ;;
idle)
  for _ in $(seq 1 600); do
    [ "$(committed_total)" -eq "$events" ] && break
    kill -0 "$pid" 2>/dev/null || fail "the stage ended before the signal"
    sleep 0.5
  done
  [ "$(committed_total)" -eq "$events" ] || fail "not every event committed after 300 s"
  sleep 2
  what="idle, every event committed" ;;
startup)
  delay_ms=$((RANDOM % 300))
  sleep "0.$(printf %03d "$delay_ms")"
  what="$delay_ms ms after start"
  grep -q '"consuming ' "$work/first.log" && what="$what (already consuming: start-up was over)" ;;
esac
kill -0 "$pid" 2>/dev/null || fail "the stage ended before the signal"
sent=$(now_ms)
kill -s "$sig" "$pid"
status=0
for _ in $(seq 1 $((bound * 20))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
  kill -9 "$pid"
  fail "still running $bound s after SIG$sig"
fi
wait "$pid" || status=$?
pid=
took=$(( $(now_ms) - sent ))
echo "SIG$sig $what: exit status $status after $took ms"
[ "$status" -eq 0 ] || fail "exit status $status after SIG$sig (expected 0)"

processed=$(stopped_field events "$work/first.log")
changes=$(stopped_field changes "$work/first.log")
if [ -z "$processed" ]; then
  [ "$mode" = startup ] || fail "no \"stopped\" line"
  processed=0 changes=0 # stopped before the main loop: nothing to account for
fi
committed=$(committed_total)
echo "processed $processed events, made $changes changes; committed offsets add up to $committed" \
     "($(grep -c '"batch committed"' "$work/first.log") transactions)"
[ "$committed" -eq "$processed" ] || fail "committed $committed != processed $processed"
check_outputs "$changes"
case $mode in
idle) [ "$processed" -eq "$events" ] || fail "processed $processed of $events"; echo OK; exit 0 ;;
term|int) [ "$processed" -lt "$events" ] || fail "the signal came after the whole input was processed: no test" ;;
esac

# The restart continues where the first process stopped.
timeout 300 "$SEGSTREAM_BIN" run -c "$work/stage.properties" --exit-when-idle 5 2> "$work/restart.log" ||
  fail "the restart failed"
rest=$(stopped_field events "$work/restart.log")
more=$(stopped_field changes "$work/restart.log")
[ "$rest" -eq $((events - processed)) ] || fail "the restart processed $rest events, expected $((events - processed))"
if [ "$processed" -gt 0 ]; then
  grep -q '"restored a' "$work/restart.log" || fail "the restart did not restore the snapshot"
fi
[ "$(committed_total)" -eq "$events" ] || fail "after the restart $(committed_total) of $events committed"
check_outputs $((changes + more))
echo "OK: the restart processed the other $rest events; $((changes + more)) changes, unique event ids"
