#!/usr/bin/env bash
# kafka.sh - a local single-node Apache Kafka broker (KRaft, broker and
# controller in one JVM) for development, tests and the demo.
#
#   kafka.sh fetch               fetch the pinned jars (pom.xml) into the cache
#   kafka.sh start               start the broker, or keep the one running
#   kafka.sh stop                SIGTERM, wait, SIGKILL after a timeout
#   kafka.sh status              exit 0 when running AND answering API requests
#   kafka.sh pid                 print the broker's pid (exit 1 if not running)
#   kafka.sh log                 print the path of the broker's log file
#   kafka.sh data                print the broker's data folder
#   kafka.sh class NAME ARGS...  run a class of the Kafka jars (the tools)
#
# Main design choice: the jars come from Maven Central through pom.xml and
# live in the cache (outside the source tree, shared by checkouts); all
# state of one broker (configuration, KRaft storage, pid file, logs) lives
# in one data folder, so a broker is identified by its folder and `start`
# can tell its own broker (alive, answering, with its cluster id) from a
# stale pid file or a stranger holding the port.
#
# Environment:
#   SEGSTREAM_BROKER_PORT             client port on 127.0.0.1 (default: the port of
#                                    SEGSTREAM_BROKERS when that names one local
#                                    broker, as the tests' does; else 9092)
#   SEGSTREAM_BROKER_CONTROLLER_PORT  KRaft controller port (default port+1)
#   SEGSTREAM_BROKER_DATA             data folder (default $SEGSTREAM_CACHE/kafka-data-PORT)
#   SEGSTREAM_BROKER_START_TIMEOUT    seconds to wait for a start (default 120)
#   SEGSTREAM_BROKER_STOP_TIMEOUT     seconds before SIGKILL on stop (default 60)
#   SEGSTREAM_BROKER_HEAP             broker heap (default 512m)
#
# Secure mode (off unless SEGSTREAM_BROKER_TLS_DIR is set; the PLAINTEXT
# listener above stays, for the scripts and the health probe):
#   SEGSTREAM_BROKER_TLS_DIR          folder with keystore.p12 (the broker's key and
#                                    certificate chain, PKCS#12) and keystore.password;
#                                    adds an SSL listener
#   SEGSTREAM_BROKER_TLS_PORT         its port (default port+2)
#   SEGSTREAM_BROKER_SCRAM_PASSWORD_FILE  file holding a SCRAM password (or
#   SEGSTREAM_BROKER_SCRAM_PASSWORD   the password itself): adds a SASL_SSL
#                                    listener with SCRAM-SHA-512 and that user
#   SEGSTREAM_BROKER_SCRAM_USER       the SCRAM user (default segstream)
#   SEGSTREAM_BROKER_SASL_PORT        the SASL_SSL port (default port+3)
# The SCRAM credential is written when the storage is formatted (StorageTool
# --add-scram), or through the PLAINTEXT listener with ConfigCommand when the
# folder was formatted before or the user or password changed. No authorizer:
# every authenticated client may do anything.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../../tools/lib.sh"

pom="$here/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
[ -n "$version" ] || die "kafka.sh: no <kafka.version> in $pom"
kafka_home="$SEGSTREAM_CACHE/kafka-$version"
libs="$kafka_home/libs"
port="${SEGSTREAM_BROKER_PORT:-}"
if [ -z "$port" ]; then
  port=9092
  if [[ "${SEGSTREAM_BROKERS:-}" =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]]; then
    port="${BASH_REMATCH[2]}"
  fi
fi
[[ "$port" =~ ^[0-9]+$ ]] || die "kafka.sh: SEGSTREAM_BROKER_PORT must be a port number, not '$port'"
controller_port="${SEGSTREAM_BROKER_CONTROLLER_PORT:-$((port + 1))}"
data="${SEGSTREAM_BROKER_DATA:-$SEGSTREAM_CACHE/kafka-data-$port}"
start_timeout="${SEGSTREAM_BROKER_START_TIMEOUT:-120}"
stop_timeout="${SEGSTREAM_BROKER_STOP_TIMEOUT:-60}"
heap="${SEGSTREAM_BROKER_HEAP:-512m}"
conf="$data/server.properties"
pidfile="$data/broker.pid"
logdir="$data/logs"
server_log="$logdir/server.log"
stdout_log="$logdir/kafka.out"

tls_dir="${SEGSTREAM_BROKER_TLS_DIR:-}"
tls_port="" sasl_port="" scram_user="" scram_password=""
# Secure mode's settings, read and checked by `start` only (stop, status and
# the tools must work whatever the environment says).
secure_settings() {
  [ -n "$tls_dir" ] || return 0
  tls_dir=$(cd "$tls_dir" && pwd) || die "kafka.sh: SEGSTREAM_BROKER_TLS_DIR $tls_dir is not a folder"
  for f in keystore.p12 keystore.password; do
    [ -r "$tls_dir/$f" ] || die "kafka.sh: secure mode needs $tls_dir/$f"
  done
  tls_port="${SEGSTREAM_BROKER_TLS_PORT:-$((port + 2))}"
  [[ "$tls_port" =~ ^[0-9]+$ ]] || die "kafka.sh: SEGSTREAM_BROKER_TLS_PORT must be a port number"
  if [ -n "${SEGSTREAM_BROKER_SCRAM_PASSWORD_FILE:-}" ]; then
    scram_password=$(cat "$SEGSTREAM_BROKER_SCRAM_PASSWORD_FILE") \
      || die "kafka.sh: cannot read SEGSTREAM_BROKER_SCRAM_PASSWORD_FILE"
  else
    scram_password="${SEGSTREAM_BROKER_SCRAM_PASSWORD:-}"
  fi
  if [ -n "$scram_password" ]; then
    scram_user="${SEGSTREAM_BROKER_SCRAM_USER:-segstream}"
    sasl_port="${SEGSTREAM_BROKER_SASL_PORT:-$((port + 3))}"
    [[ "$sasl_port" =~ ^[0-9]+$ ]] || die "kafka.sh: SEGSTREAM_BROKER_SASL_PORT must be a port number"
    # Kafka's [name=...,password=...] syntax has no escapes.
    [[ "$scram_user$scram_password" =~ ^[A-Za-z0-9._~+/@:-]+$ ]] \
      || die "kafka.sh: the SCRAM user and password may only hold letters, digits and ._~+/@:-"
  fi
}

# ---------------------------------------------------------------- jars

pom_key() { sha256sum "$pom" | cut -c1-16; }

fetch() {
  local key; key=$(pom_key)
  if [ "$(cat "$libs/.complete" 2>/dev/null)" = "$key" ]; then return 0; fi
  command -v mvn >/dev/null || die "kafka.sh: mvn not found (run tools/setup)"
  command -v java >/dev/null || die "kafka.sh: java not found (run tools/setup)"
  mkdir -p "$kafka_home"
  # Several checkouts share the cache: one fetch at a time.
  exec 8>"$kafka_home/.fetch.lock"
  flock -w 600 8 || die "kafka.sh: timed out waiting for another fetch ($kafka_home/.fetch.lock)"
  if [ "$(cat "$libs/.complete" 2>/dev/null)" = "$key" ]; then exec 8>&-; return 0; fi
  log "kafka: fetching Apache Kafka $version jars with Maven into $libs"
  local tmp="$kafka_home/libs.tmp.$$"
  rm -rf "$tmp"
  # Maven 3.8's quiet mode still prints colour resets: strip them.
  if ! mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
      | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
    rm -rf "$tmp"
    die "kafka.sh: Maven could not fetch the Kafka jars (see above)"
  fi
  ls "$tmp"/kafka_2.13-"$version".jar >/dev/null 2>&1 \
    || { rm -rf "$tmp"; die "kafka.sh: kafka_2.13-$version.jar missing after the fetch"; }
  echo "$key" >"$tmp/.complete"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  exec 8>&-
}

# Runs a class of the Kafka jars with a small, quick-starting JVM.
run_class() {
  fetch
  local cls="$1"; shift
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$here/log4j-tools.properties" \
    -cp "$libs/*" "$cls" "$@"
}

# ---------------------------------------------------------------- probes

# Prints the pid of this data folder's broker if one is alive. The pid file
# alone is not trusted: after a crash or kill -9 the pid may be reused by an
# unrelated process, so its command line must name our configuration.
broker_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $conf" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cluster_id() { sed -n 's/^cluster.id=//p' "$data/log/meta.properties" 2>/dev/null; }

# True when the broker on our port answers a real API request (Admin
# describeCluster) with the cluster id of our data folder.
answers() {
  port_open "$port" || return 1
  local want got
  want=$(cluster_id)
  [ -n "$want" ] || return 1
  got=$(timeout -k 5 30 "$here/kafka.sh" class org.apache.kafka.tools.ClusterTool \
          cluster-id --bootstrap-server "127.0.0.1:$port" --config "$here/probe-admin.properties" 2>/dev/null \
    | sed -n 's/^Cluster ID: //p') || return 1
  [ "$got" = "$want" ]
}

log_tail() {
  for f in "$stdout_log" "$server_log"; do
    [ -s "$f" ] || continue
    log "---- last lines of $f"
    tail -n 25 "$f" >&2
  done
}

# ---------------------------------------------------------------- start

write_config() {
  mkdir -p "$data/log" "$logdir"
  # Regenerated on every start so a changed port or setting takes effect;
  # the KRaft storage in $data/log is formatted once and kept.
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
  local advertised="PLAINTEXT://127.0.0.1:$port" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$tls_dir" ]; then
    listeners+=",SSL://127.0.0.1:$tls_port" advertised+=",SSL://127.0.0.1:$tls_port" protocols+=",SSL:SSL"
    if [ -n "$sasl_port" ]; then
      listeners+=",SASL_SSL://127.0.0.1:$sasl_port" advertised+=",SASL_SSL://127.0.0.1:$sasl_port"
      protocols+=",SASL_SSL:SASL_SSL"
    fi
    # The keystore password goes into the file: only its owner may read it.
    (umask 077; : >"$conf.tmp")
  fi
  cat >"$conf.tmp" <<EOF
# Generated by deploy/kafka/kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$data/log

# Sized for a 2-core machine shared with builds and tests.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=33554432

# One node: every replication factor and ISR is 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0

# Topics the project uses are created by topics.sh; tests may create their own.
num.partitions=1
auto.create.topics.enable=true
log.retention.hours=168
EOF
  if [ -n "$tls_dir" ]; then
    cat >>"$conf.tmp" <<EOF

# Secure mode (SEGSTREAM_BROKER_TLS_DIR): TLS with the broker's own key, no client certificates.
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls_dir/keystore.p12
ssl.keystore.password=$(cat "$tls_dir/keystore.password")
ssl.client.auth=none
EOF
  fi
  if [ -n "$sasl_port" ]; then
    cat >>"$conf.tmp" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  mv "$conf.tmp" "$conf"
}

# The SCRAM credential the data folder holds, as a digest (never the password).
scram_marker() { printf '%s\n%s' "$scram_user" "$scram_password" | sha256sum | cut -c1-64; }

# Creates or updates the SCRAM credential through the PLAINTEXT listener when
# the folder's marker says it differs (formatted earlier, or a new password).
ensure_scram() {
  [ -n "$sasl_port" ] || return 0
  [ "$(cat "$data/scram.applied" 2>/dev/null)" = "$(scram_marker)" ] && return 0
  log "kafka: setting the SCRAM-SHA-512 credential of user $scram_user"
  timeout -k 5 60 "$here/kafka.sh" class kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$port" \
    --command-config "$here/probe-admin.properties" --alter --entity-type users --entity-name "$scram_user" \
    --add-config "SCRAM-SHA-512=[password=$scram_password]" >/dev/null \
    || die "kafka.sh: setting the SCRAM credential of $scram_user failed"
  (umask 077; scram_marker >"$data/scram.applied")
}

# KRaft storage is formatted once; meta.properties marks a formatted folder.
format_storage() {
  [ -f "$data/log/meta.properties" ] && return 0
  local id
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not
  # starting with '-' (Kafka's own rule for random ids).
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    [ "${id:0:1}" != "-" ] && break
  done
  local scram=()
  [ -z "$sasl_port" ] || scram=(--add-scram "SCRAM-SHA-512=[name=$scram_user,password=$scram_password]")
  log "kafka: formatting KRaft storage in $data/log (cluster id $id)"
  run_class kafka.tools.StorageTool format --ignore-formatted -t "$id" -c "$conf" "${scram[@]}" >&2 \
    || die "kafka.sh: formatting $data/log failed"
  if [ -n "$sasl_port" ]; then (umask 077; scram_marker >"$data/scram.applied"); fi
}

start() {
  secure_settings
  fetch
  mkdir -p "$data"
  # Two starts at once (two test runs) must end with one broker.
  exec 9>"$data/.start.lock"
  flock -w $((start_timeout + 60)) 9 || die "kafka.sh: timed out waiting for another start ($data/.start.lock)"

  local pid
  if pid=$(broker_pid); then
    if wait_answering "$pid"; then
      log "kafka: broker already running on 127.0.0.1:$port (pid $pid, data $data)"
      return 0
    fi
    log "kafka: broker pid $pid does not answer; restarting it"
    stop_pid "$pid"
  fi
  rm -f "$pidfile"
  for p in "$port" "$controller_port" $tls_port $sasl_port; do
    if port_open "$p"; then
      die "kafka.sh: port $p on 127.0.0.1 is taken by another process (not the broker of $data):
$(ss -ltnpH "sport = :$p" 2>/dev/null || true)
stop it, or choose other ports with SEGSTREAM_BROKER_PORT / SEGSTREAM_BROKER_CONTROLLER_PORT"
    fi
  done

  write_config
  format_storage
  command -v setsid >/dev/null || die "kafka.sh: setsid not found (util-linux)"
  local t0=$SECONDS
  log "kafka: starting Apache Kafka $version on 127.0.0.1:$port (controller :$controller_port, data $data)"
  # The broker writes its own pid, leads its own session (no hangup from the
  # caller's terminal or ctest), and runs from / so it holds no checkout busy.
  # fd 8 and 9 (our locks) must not leak into it.
  (
    cd /
    exec 8>&- 9>&-
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
      java -Xmx"$heap" -Xms"$heap" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dkafka.logs.dir="$logdir" -Dlog4j.configuration="file:$here/log4j-broker.properties" \
        -cp "$libs/*" kafka.Kafka "$conf" \
      </dev/null >>"$stdout_log" 2>&1 &
  )
  local deadline=$((SECONDS + start_timeout))
  while ! pid=$(broker_pid); do
    [ $SECONDS -lt $((t0 + 10)) ] || { log_tail; die "kafka.sh: the broker JVM did not start"; }
    sleep 0.2
  done
  if ! wait_answering "$pid" "$deadline"; then
    log_tail
    broker_pid >/dev/null && stop_pid "$pid"
    die "kafka.sh: the broker did not answer within ${start_timeout}s (logs: $logdir)"
  fi
  log "kafka: broker answering on 127.0.0.1:$port after $((SECONDS - t0))s (pid $pid, log $server_log)"
  ensure_scram
  [ -z "$tls_dir" ] || log "kafka: secure listeners: SSL 127.0.0.1:$tls_port${sasl_port:+, SASL_SSL (SCRAM-SHA-512, user $scram_user) 127.0.0.1:$sasl_port}"
}

# Waits until the broker process answers API requests; false if it died or
# the deadline (default: now + start timeout) passed.
wait_answering() {
  local pid="$1" deadline="${2:-$((SECONDS + start_timeout))}"
  while [ $SECONDS -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || { log "kafka: broker pid $pid exited"; return 1; }
    if port_open "$port" && answers; then return 0; fi
    sleep 1
  done
  return 1
}

# ---------------------------------------------------------------- stop

stop_pid() {
  local pid="$1" deadline=$((SECONDS + stop_timeout))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge "$deadline" ]; then
      log "kafka: broker pid $pid still running after ${stop_timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$pidfile"
}

stop() {
  local pid
  if ! pid=$(broker_pid); then
    rm -f "$pidfile"
    log "kafka: no broker running for $data"
    return 0
  fi
  local t0=$SECONDS
  log "kafka: stopping broker pid $pid"
  stop_pid "$pid"
  log "kafka: stopped after $((SECONDS - t0))s"
}

status() {
  local pid
  if ! pid=$(broker_pid); then
    echo "kafka: not running (data $data)"
    return 3
  fi
  if answers; then
    echo "kafka: running and answering on 127.0.0.1:$port (pid $pid, cluster $(cluster_id), data $data)"
    return 0
  fi
  echo "kafka: process $pid is running but does not answer on 127.0.0.1:$port (log $server_log)"
  return 1
}

case "${1:-}" in
  fetch) fetch; echo "$libs" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  pid) broker_pid ;;
  log) echo "$server_log" ;;
  data) echo "$data" ;;
  class) shift; [ $# -ge 1 ] || die "usage: kafka.sh class NAME [ARGS...]"; run_class "$@" ;;
  *) die "usage: kafka.sh fetch|start|stop|status|pid|log|data|class NAME [ARGS...]" ;;
esac
