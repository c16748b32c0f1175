#!/usr/bin/env bash
# kafka_restart.sh - deploy/kafka/kafka.sh survives what operators and
# crashes do to a broker: a second start, kill -9, a stale pid file whose
# pid now belongs to another process. It works on the shared test broker
# (the `kafka` fixture, run serially) and leaves it running and answering,
# with the project's topics, as the other integration tests expect.
set -euo pipefail
: "${SEGSTREAM_ROOT:?run through ctest}"
kafka="$SEGSTREAM_ROOT/deploy/kafka/kafka.sh"
if [ -z "${SEGSTREAM_KAFKA_PORT:-}" ] && [[ "${SEGSTREAM_BROKERS:-}" =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]]; then
  export SEGSTREAM_KAFKA_PORT="${BASH_REMATCH[2]}"
fi
data=$("$kafka" data)
conf="$data/server.properties"
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
brokers_running() { pgrep -f "kafka\.Kafka $conf" | wc -l; }
status_rc() { local rc=0; "$kafka" status >&2 || rc=$?; echo "$rc"; }

step "start twice: one broker"
"$kafka" start
pid1=$("$kafka" pid) || fail "no pid after start"
"$kafka" start
pid2=$("$kafka" pid) || fail "no pid after the second start"
[ "$pid1" = "$pid2" ] || fail "second start replaced the broker ($pid1 -> $pid2)"
[ "$(brokers_running)" = 1 ] || fail "$(brokers_running) broker processes for $conf"
[ "$(status_rc)" = 0 ] || fail "status of a running broker is not 0"

step "kill -9 the broker: status says not running"
kill -9 "$pid1"
for _ in $(seq 50); do kill -0 "$pid1" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid1" 2>/dev/null && fail "broker $pid1 survived kill -9"
[ "$(status_rc)" != 0 ] || fail "status is 0 after kill -9"

step "stale pid file naming a live unrelated process: not taken for the broker"
sleep 300 &
stranger=$!
trap 'kill "$stranger" 2>/dev/null || true' EXIT
echo "$stranger" >"$data/broker.pid"
[ "$(status_rc)" != 0 ] || fail "status is 0 with a stranger's pid in the pid file"

step "start again after the crash"
"$kafka" start
pid3=$("$kafka" pid) || fail "no pid after restart"
[ "$pid3" != "$stranger" ] || fail "pid file still names the stranger"
kill -0 "$stranger" 2>/dev/null || fail "start killed an unrelated process"
[ "$(brokers_running)" = 1 ] || fail "$(brokers_running) broker processes after restart"
[ "$(status_rc)" = 0 ] || fail "status of the restarted broker is not 0"

step "the project's topics survived the crash"
listed=$("$kafka" class org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:${SEGSTREAM_KAFKA_PORT:-9092}" --list)
for t in interest-changes segment-changes segments segstream-state interest-changes.dlq; do
  grep -qxF "$t" <<<"$listed" || fail "topic $t missing after restart; listed: $listed"
done
echo "ok: start is idempotent, survives kill -9 and a stale pid file; topics kept"
