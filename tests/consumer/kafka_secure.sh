#!/usr/bin/env bash
# kafka_secure.sh - the stage and the tools over TLS and SASL_SSL with
# SCRAM-SHA-512, against a broker of this test's own (deploy/kafka/kafka.sh in
# secure mode, free ports, its own data folder; stopped on exit). The shared
# broker is never touched.
#   - a CA, the broker's certificate (SAN 127.0.0.1) and the passwords are made
#     here, in a temporary folder: nothing secret lives in the repository;
#   - `segstream produce -c` (password from SEGSTREAM_KAFKA_SASL_PASSWORD_FILE)
#     -> `segstream run -c` (password from SEGSTREAM_KAFKA_SASL_PASSWORD) ->
#     outputs read back with `segstream consume -c` over SASL_SSL and over TLS;
#   - the password appears in none of the logs, /metrics or `config --show`;
#   - a wrong password and an untrusted certificate make the stage and the
#     tools fail within seconds with a message naming the cause.
set -euo pipefail
. "$(dirname "$0")/stage_props.sh"
: "${SEGSTREAM_ROOT:?}" "${SEGSTREAM_BIN:?}" "${SEGSTREAM_MODEL_DIR:?}" "${SEGSTREAM_DATA_DIR:?}"
kafka="$SEGSTREAM_ROOT/deploy/kafka/kafka.sh"
bin=$SEGSTREAM_BIN
work=$(mktemp -d)
chmod 700 "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $* ($((SECONDS))s)"; }

# Four free ports: client, controller, TLS, SASL_SSL.
read -r port cport tport sport < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
export SEGSTREAM_BROKER_PORT=$port SEGSTREAM_BROKER_CONTROLLER_PORT=$cport \
  SEGSTREAM_BROKER_TLS_PORT=$tport SEGSTREAM_BROKER_SASL_PORT=$sport \
  SEGSTREAM_BROKER_DATA=$work/broker SEGSTREAM_BROKER_TLS_DIR=$work/tls \
  SEGSTREAM_BROKER_SCRAM_USER=segstream-test SEGSTREAM_BROKER_SCRAM_PASSWORD_FILE=$work/secret/scram \
  SEGSTREAM_BROKER_STOP_TIMEOUT=30
cleanup() {
  "$kafka" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "TLS material and passwords"
mkdir -p "$work/tls" "$work/secret" "$work/other"
(
  cd "$work/tls"
  openssl rand -hex 16 > keystore.password
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj "/CN=segstream test CA $$" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf \
    -out broker.pem 2>/dev/null
  openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
    -out keystore.p12 -passout file:keystore.password
  # A CA that did not sign the broker's certificate.
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ../other/ca.key -out ../other/ca.pem -days 2 \
    -subj "/CN=segstream other CA $$" 2>/dev/null
)
password=$(openssl rand -hex 24)
printf '%s\n' "$password" > "$work/secret/scram"

step "own broker in secure mode: plaintext $port, TLS $tport, SASL_SSL $sport"
"$kafka" start 2> "$work/broker-start.log" || { cat "$work/broker-start.log"; fail "broker start"; }
grep -F -- "$password" "$work/broker/server.properties" && fail "the SCRAM password is in server.properties"

"$SEGSTREAM_ROOT/tools/movielens-events" --data "$SEGSTREAM_DATA_DIR/movielens-small" --limit 300 \
  -o "$work/events.ndjson"
id="sec-$$"
{
  stage_properties "$id" "127.0.0.1:$sport"
  cat <<PROPS
kafka.security.protocol=SASL_SSL
kafka.sasl.mechanism=SCRAM-SHA-512
kafka.sasl.username=segstream-test
kafka.ssl.ca.location=$work/tls/ca.pem
PROPS
} > "$work/sasl.properties"
sed -e "s/^kafka.bootstrap.servers=.*/kafka.bootstrap.servers=127.0.0.1:$tport/" \
    -e 's/^kafka.security.protocol=.*/kafka.security.protocol=SSL/' -e '/^kafka.sasl/d' \
    "$work/sasl.properties" > "$work/tls.properties"

step "produce over SASL_SSL (password from a file)"
SEGSTREAM_KAFKA_SASL_PASSWORD_FILE=$work/secret/scram \
  "$bin" produce -c "$work/sasl.properties" --topic "$id-in" --create-topic 1 \
  < "$work/events.ndjson" 2> "$work/produce.log" || { cat "$work/produce.log"; fail "produce over SASL_SSL"; }
grep -q '300 delivered' "$work/produce.log" || { cat "$work/produce.log"; fail "not 300 delivered"; }

step "the stage over SASL_SSL (password from the environment)"
SEGSTREAM_KAFKA_SASL_PASSWORD=$password "$bin" run -c "$work/sasl.properties" \
  --set metrics.listen=127.0.0.1:0 --exit-when-idle 5 2> "$work/stage.log" &
pid=$!
for _ in $(seq 1 600); do grep -q '"metrics on port' "$work/stage.log" && break; sleep 0.1; done
mport=$(grep -o '"metrics on port [0-9]*' "$work/stage.log" | grep -o '[0-9]*$') || fail "no metrics port"
for _ in $(seq 1 1200); do
  curl -s "http://127.0.0.1:$mport/metrics" > "$work/metrics.txt" || true
  grep -q '^segstream_events_in_total 300$' "$work/metrics.txt" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
curl -s "http://127.0.0.1:$mport/healthz" >> "$work/metrics.txt" || true
wait "$pid" || { cat "$work/stage.log"; fail "the stage over SASL_SSL"; }
grep -q '^segstream_events_in_total 300$' "$work/metrics.txt" || { cat "$work/metrics.txt"; fail "events in != 300"; }
out=$(sed -n 's/^segstream_events_out_total \([0-9]*\)$/\1/p' "$work/metrics.txt")
[ "${out:-0}" -gt 0 ] || fail "no segment changes counted"

step "outputs read back over SASL_SSL and over TLS"
SEGSTREAM_KAFKA_SASL_PASSWORD_FILE=$work/secret/scram \
  "$bin" consume -c "$work/sasl.properties" --topic "$id-out" --from-beginning --to-end --timeout 30 \
  > "$work/out-sasl.ndjson" 2> "$work/consume.log" || { cat "$work/consume.log"; fail "consume over SASL_SSL"; }
[ "$(wc -l < "$work/out-sasl.ndjson")" -eq "$out" ] || fail "$(wc -l < "$work/out-sasl.ndjson") records on $id-out, $out counted"
"$bin" consume -c "$work/tls.properties" --topic "$id-seg" --from-beginning --to-end --timeout 30 \
  > "$work/seg-tls.ndjson" 2>> "$work/consume.log" || { cat "$work/consume.log"; fail "consume over TLS"; }
grep -q '"segment_id"' "$work/seg-tls.ndjson" || fail "no catalog records read over TLS"
echo "$out changes over SASL_SSL, $(wc -l < "$work/seg-tls.ndjson") catalog records over TLS"

step "the password is in no log, /metrics or config --show"
SEGSTREAM_KAFKA_SASL_PASSWORD=$password "$bin" config --show -c "$work/sasl.properties" > "$work/show.txt"
grep -q '^kafka.sasl.password=\*\*\*' "$work/show.txt" || { cat "$work/show.txt"; fail "config --show: password not redacted"; }
for f in stage.log metrics.txt produce.log consume.log show.txt broker-start.log; do
  grep -qF -- "$password" "$work/$f" && fail "the password is in $f"
done

# Runs "$@" (a stage or a tool expected to fail); checks it fails within
# 30 s with a message matching $1.
fails_fast() {
  local want=$1 log=$2; shift 2
  local t0=$SECONDS rc=0
  timeout 90 "$@" > /dev/null 2> "$work/$log" || rc=$?
  local took=$((SECONDS - t0))
  [ "$rc" -ne 0 ] || { cat "$work/$log"; fail "$log: succeeded"; }
  [ "$rc" -ne 124 ] || { cat "$work/$log"; fail "$log: still running after 90 s"; }
  [ "$took" -le 30 ] || { cat "$work/$log"; fail "$log: failed only after ${took}s"; }
  grep -qE "$want" "$work/$log" || { cat "$work/$log"; fail "$log: no message matching '$want'"; }
  echo "$log: exit $rc after ${took}s: $(grep -oE "$want.{0,120}" "$work/$log" | head -n 1)"
}

step "a wrong password: the stage and the tools stop at once"
wrong="wrong-$password"
SEGSTREAM_KAFKA_SASL_PASSWORD=$wrong fails_fast 'authentication failed \(SASL_SSL, SASL SCRAM-SHA-512 as user segstream-test\).*check kafka.sasl.username, kafka.sasl.password' \
  stage-wrong.log "$bin" run -c "$work/sasl.properties" --set metrics.listen= --set group.id="$id-w" \
  --set instance.id=wrong --exit-when-idle 5
SEGSTREAM_KAFKA_SASL_PASSWORD=$wrong fails_fast 'authentication failed' consume-wrong.log \
  "$bin" consume -c "$work/sasl.properties" --topic "$id-out" --from-beginning --timeout 30
SEGSTREAM_KAFKA_SASL_PASSWORD=$wrong fails_fast 'authentication failed' produce-wrong.log \
  "$bin" produce -c "$work/sasl.properties" --topic "$id-in" < /dev/null
for f in stage-wrong.log consume-wrong.log produce-wrong.log; do
  grep -qF -- "$wrong" "$work/$f" && fail "the wrong password is in $f"
done

step "a certificate signed by another CA: TLS handshake failure, at once"
fails_fast 'TLS handshake failed' stage-ca.log "$bin" run -c "$work/tls.properties" --set metrics.listen= \
  --set kafka.ssl.ca.location="$work/other/ca.pem" --set group.id="$id-ca" --set instance.id=ca --exit-when-idle 5
fails_fast 'TLS handshake failed' consume-ca.log env SEGSTREAM_KAFKA_SSL_CA_LOCATION="$work/other/ca.pem" \
  "$bin" consume -c "$work/tls.properties" --topic "$id-out" --from-beginning --timeout 30

step "ok"
