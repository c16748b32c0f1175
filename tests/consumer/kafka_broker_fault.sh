#!/usr/bin/env bash
# kafka_broker_fault.sh - the broker goes away in the middle of a run and comes
# back: the stage stays up, /readyz says "not ready" while it is cut off, it
# resumes by itself, and the read_committed output equals a clean run's byte for
# byte (no loss, no duplicate). Then a stall: the broker is frozen (SIGSTOP) in the
# middle of the stage's batches for longer than the transaction timeout and
# resumed (SIGCONT); the broker then aborts the open transaction and fences the
# producer. /readyz reports the stall while it lasts, the stage recovers (a new
# producer, state and offsets read back), and its output equals the clean run's.
#
# It starts a broker of its own (free ports, a temporary data folder) because it
# stops it: the shared test broker is never touched.
set -euo pipefail
. "$(dirname "$0")/stage_props.sh"
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
kafka="$SEGSTREAM_ROOT/deploy/kafka/kafka.sh"
work=$(mktemp -d)
free_port() { # an even port whose successor is free too (client + controller)
  python3 - <<'PY'
import random, socket
start = 20000 + 2 * random.randrange(4000)
for p in list(range(start, 28000, 2)) + list(range(20000, start, 2)):
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}
port=$(free_port)
export SEGSTREAM_BROKER_PORT=$port SEGSTREAM_BROKER_CONTROLLER_PORT=$((port + 1)) \
       SEGSTREAM_BROKER_DATA="$work/kafka" SEGSTREAM_BROKERS=127.0.0.1:$port
pid=
cleanup() {
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  [ -z "${frozen:-}" ] || kill -CONT "$frozen" 2>/dev/null || true
  "$kafka" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -n 30 "$f"; done; exit 1; }

"$kafka" start > "$work/broker-start.log" 2>&1 || fail "own broker did not start"
"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 400 \
  -o "$work/events.ndjson"
props() { # name
  stage_properties "$1" "127.0.0.1:$port"
  printf 'batch.max_events=20\nlog.level=debug\n'
}
props clean > "$work/clean.properties"
props fault > "$work/fault.properties"
{ props stall; printf 'kafka.transaction.timeout.ms=8000\nkafka.session.timeout.ms=30000\n'; } > "$work/stall.properties"

# The clean run.
"$SEGSTREAM_BIN" produce --topic clean-in --create-topic 1 < "$work/events.ndjson"
"$SEGSTREAM_BIN" run -c "$work/clean.properties" --set metrics.listen= --exit-when-idle 5 2> "$work/clean.log" ||
  fail "clean run"
"$SEGSTREAM_BIN" consume --topic clean-out --from-beginning --to-end --timeout 30 > "$work/clean.ndjson"

# The run with an outage.
"$SEGSTREAM_BIN" produce --topic fault-in --create-topic 1 < "$work/events.ndjson"
"$SEGSTREAM_BIN" run -c "$work/fault.properties" --set metrics.listen=127.0.0.1:0 --exit-when-idle 40 \
  2> "$work/fault.log" &
pid=$!
for _ in $(seq 1 1200); do
  grep -q '"batch committed"' "$work/fault.log" && break
  kill -0 "$pid" 2>/dev/null || fail "the stage ended before the outage"
  sleep 0.05
done
metrics_port=$(grep -o '"metrics on port [0-9]*' "$work/fault.log" | grep -o '[0-9]*$')
"$kafka" stop > "$work/broker-stop.log" 2>&1
echo "broker stopped after $(grep -c '"batch committed"' "$work/fault.log") committed batches"
ready=
for _ in $(seq 1 60); do
  ready=$(curl -s "http://127.0.0.1:$metrics_port/readyz" || true)
  [ "$ready" != ready ] && [ -n "$ready" ] && break
  sleep 0.5
done
[ "$ready" != ready ] && [ -n "$ready" ] || fail "/readyz said '$ready' while the broker was down"
echo "/readyz while cut off: $ready"
sleep 5
kill -0 "$pid" 2>/dev/null || fail "the stage died during the outage"
"$kafka" start > "$work/broker-restart.log" 2>&1 || fail "the broker did not come back"
echo "broker back"
wait "$pid" || fail "the stage did not stop cleanly after the outage"
pid=
# the input topics differ by name only
"$SEGSTREAM_BIN" consume --topic fault-out --from-beginning --to-end --timeout 30 |
  sed 's/"source_topic":"fault-in"/"source_topic":"clean-in"/' > "$work/fault.ndjson"
[ -s "$work/clean.ndjson" ] || fail "the clean run wrote nothing"
cmp -s "$work/clean.ndjson" "$work/fault.ndjson" ||
  { diff "$work/clean.ndjson" "$work/fault.ndjson" | head -n 6; fail "output after the outage differs from the clean run's"; }
echo "outage survived: $(wc -l < "$work/fault.ndjson") records, equal to the clean run's" \
  "(recovery in the log: $(grep -c 'recreating the producer' "$work/fault.log" || true) new producers," \
  "$(grep -c 'aborting the transaction' "$work/fault.log" || true) aborts)"

# The stall: the broker frozen past the transaction timeout (8 s) in the middle of the batches.
"$SEGSTREAM_BIN" produce --topic stall-in --create-topic 1 < "$work/events.ndjson"
"$SEGSTREAM_BIN" run -c "$work/stall.properties" --exit-when-idle 20 2> "$work/stall.log" &
pid=$!
for _ in $(seq 1 1200); do
  [ "$(grep -c '"batch committed"' "$work/stall.log")" -ge 3 ] && break
  kill -0 "$pid" 2>/dev/null || fail "the stage ended before the stall"
  sleep 0.02
done
metrics_port=$(grep -o '"metrics on port [0-9]*' "$work/stall.log" | grep -o '[0-9]*$')
frozen=$("$kafka" pid) || fail "no broker pid"
kill -STOP "$frozen"
echo "broker frozen after $(grep -c '"batch committed"' "$work/stall.log") committed batches"
ready=
for _ in $(seq 1 40); do
  ready=$(curl -s -m 2 "http://127.0.0.1:$metrics_port/readyz" || true)
  [ "$ready" != ready ] && [ -n "$ready" ] && break
  sleep 0.5
done
[ "$ready" != ready ] && [ -n "$ready" ] || fail "/readyz said '$ready' while the broker was frozen"
echo "/readyz while the broker is frozen: $ready"
sleep 12 # past the transaction timeout, counted from before the freeze
kill -0 "$pid" 2>/dev/null || fail "the stage died during the stall"
kill -CONT "$frozen"
frozen=
echo "broker resumed"
wait "$pid" || fail "the stage did not stop cleanly after the stall"
pid=
"$SEGSTREAM_BIN" consume --topic stall-out --from-beginning --to-end --timeout 30 |
  sed 's/"source_topic":"stall-in"/"source_topic":"clean-in"/' > "$work/stall.ndjson"
cmp -s "$work/clean.ndjson" "$work/stall.ndjson" ||
  { diff "$work/clean.ndjson" "$work/stall.ndjson" | head -n 6; fail "output after the stall differs from the clean run's"; }
echo "stall survived: $(wc -l < "$work/stall.ndjson") records, equal to the clean run's" \
  "(recovery in the log: $(grep -c 'recreating the producer' "$work/stall.log" || true) new producers," \
  "$(grep -c 'aborting the transaction' "$work/stall.log" || true) aborts," \
  "$(grep -c 'past transaction.timeout.ms' "$work/stall.log" || true) fencings after the timeout)"
