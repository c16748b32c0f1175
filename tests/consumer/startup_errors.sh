#!/usr/bin/env bash
# startup_errors.sh - a bad setting stops `segstream run` at start-up, within
# seconds, with one error line that names the setting, the cause and the fix:
# a metrics port in use, a missing input topic, no broker at the address, a
# model folder without weights. (A wrong password and an untrusted
# certificate are checked on a secure broker by kafka_secure.sh.)
set -euo pipefail
. "$(dirname "$0")/stage_props.sh"
: "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}"
bin=$SEGSTREAM_BIN
brokers=${SEGSTREAM_BROKERS:-127.0.0.1:9092}
work=$(mktemp -d)
holder=
cleanup() {
  [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
id="startup-$(date +%s%N | cut -c1-13)-$$"
stage_properties "$id" "$brokers" > "$work/stage.properties"
echo "topics.create=false" >> "$work/stage.properties"

# fails_with NAME PATTERN... -- ARGS: `segstream run ARGS` exits 1 within 30 s; its
# stderr has exactly one error line, and that line matches every PATTERN.
fails_with() {
  local name=$1; shift
  local patterns=()
  while [ "$1" != -- ]; do patterns+=("$1"); shift; done
  shift
  local t0=$SECONDS rc=0
  timeout 60 "$bin" run -c "$work/stage.properties" --exit-when-idle 5 "$@" > /dev/null 2> "$work/$name.log" || rc=$?
  local took=$((SECONDS - t0))
  [ "$rc" = 1 ] || { cat "$work/$name.log"; fail "$name: exit $rc, not 1"; }
  [ "$took" -le 30 ] || { cat "$work/$name.log"; fail "$name: failed only after ${took}s"; }
  local errors
  errors=$(grep '"level":"error"' "$work/$name.log" || true)
  [ "$(printf '%s\n' "$errors" | grep -c .)" = 1 ] || { cat "$work/$name.log"; fail "$name: not exactly one error line"; }
  for p in "${patterns[@]}"; do
    grep -qE -- "$p" <<<"$errors" || { echo "$errors"; fail "$name: the error line does not match '$p'"; }
  done
  echo "$name: exit 1 after ${took}s: $(grep -o '"msg":.*' <<<"$errors" | cut -c1-220)"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A port another program listens on.
port=$(free_port)
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("listening", flush=True); time.sleep(120)' "$port" > "$work/holder.out" &
holder=$!
for _ in $(seq 50); do grep -q listening "$work/holder.out" 2>/dev/null && break; sleep 0.1; done
fails_with port_in_use "metrics.listen = 127.0.0.1:$port: the address is in use" "set metrics.listen to a free port" \
  -- --set "metrics.listen=127.0.0.1:$port"
kill "$holder"; holder=

# An input topic that does not exist (topics.create=false).
fails_with missing_topic "topics.input: topic $id-in does not exist" "set topics.create=true" \
  -- --set metrics.listen= --set topics.state=segstream-state

# No broker listens at the address.
fails_with no_broker "kafka.bootstrap.servers = 127.0.0.1:$(free_port | tee "$work/p"): no broker answered within 3.0 s" \
  "check the host names and ports" -- --set metrics.listen= --set "kafka.bootstrap.servers=127.0.0.1:$(cat "$work/p")" \
  --set pipeline.broker_wait=3s

# A model folder with its config and vocabulary but no weights.
mkdir "$work/model"
cp "$SEGSTREAM_MODEL_DIR"/config.json "$SEGSTREAM_MODEL_DIR"/vocab.txt "$work/model/"
fails_with no_weights "model.path = $work/model: .*model.safetensors" "point model.path at a sentence-transformers folder" \
  -- --set metrics.listen= --set "model.path=$work/model"
echo OK
