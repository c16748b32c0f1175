#!/usr/bin/env bash
# topics.sh - creates the project's topics on a broker, idempotently.
#
# Main design choice: one JVM lists the topics and only the missing ones are
# created (each TopicCommand is a JVM start, seconds on 2 cores), with
# --if-not-exists so a concurrent creator is no error. Existing topics are
# left as they are: their partition count is checked and a mismatch reported,
# never changed behind the operator's back.
#
# Environment:
#   SEGSTREAM_BROKERS     bootstrap servers (default 127.0.0.1:9092)
#   SEGSTREAM_PARTITIONS  partitions of each topic (default 3)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../../tools/lib.sh"

brokers="${SEGSTREAM_BROKERS:-127.0.0.1:9092}"
partitions="${SEGSTREAM_PARTITIONS:-3}"
[[ "$partitions" =~ ^[1-9][0-9]*$ ]] || die "topics.sh: SEGSTREAM_PARTITIONS must be a positive integer, not '$partitions'"

# name|configs[|partitions] (configs comma-separated key=value, empty for the
# broker's defaults; partitions SEGSTREAM_PARTITIONS unless given). The state
# topic holds chunked checkpoints and the DLQ holds whole poison messages plus
# headers: both need more than the 1 MiB default per message. The model topic
# (scale-out: topics.model) has one partition, keeps every record and takes a
# partition's barrier delta in one record.
topics=(
  "interest-changes|"
  "segment-changes|"
  "segments|cleanup.policy=compact"
  "segstream-state|cleanup.policy=compact,max.message.bytes=8388608"
  "interest-changes.dlq|max.message.bytes=2097152"
  "segstream-model|retention.ms=-1,max.message.bytes=16777216|1"
)

topic_cmd() {
  "$here/kafka.sh" class org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" "$@"
}

existing=$(topic_cmd --list) || die "topics.sh: cannot list the topics of $brokers (is the broker running? deploy/kafka/kafka.sh start)"

# want NAME: the partitions NAME should have
want() {
  local spec n p
  for spec in "${topics[@]}"; do
    IFS='|' read -r n _ p <<<"$spec"
    [ "$n" != "$1" ] || { echo "${p:-$partitions}"; return; }
  done
}

for spec in "${topics[@]}"; do
  IFS='|' read -r name configs _ <<<"$spec"
  if grep -qxF "$name" <<<"$existing"; then
    continue
  fi
  args=(--create --if-not-exists --topic "$name" --partitions "$(want "$name")" --replication-factor 1)
  if [ -n "$configs" ]; then
    IFS=',' read -ra kvs <<<"$configs"
    for kv in "${kvs[@]}"; do args+=(--config "$kv"); done
  fi
  log "topics: creating $name ($(want "$name") partitions${configs:+, $configs})"
  topic_cmd "${args[@]}" >/dev/null || die "topics.sh: creating topic $name on $brokers failed"
done

# One describe of all project topics: checks they exist now and that the
# partition counts are what this run asked for.
names=()
for spec in "${topics[@]}"; do names+=("${spec%%|*}"); done
joined=$(IFS='|'; echo "${names[*]}")
pattern="^(${joined//./\\.})\$"
described=$(topic_cmd --describe --topic "$pattern") || die "topics.sh: cannot describe the topics on $brokers"
status=0
for name in "${names[@]}"; do
  got=$(awk -v t="$name" '$1 == "Topic:" && $2 == t { for (i = 1; i < NF; i++) if ($i == "PartitionCount:") print $(i + 1) }' <<<"$described")
  if [ -z "$got" ]; then
    log "topics.sh: topic $name is missing on $brokers"
    status=1
  elif [ "$got" != "$(want "$name")" ]; then
    log "topics: note: $name has $got partitions, not $(want "$name") (left as it is)"
  fi
done
[ $status -eq 0 ] || die "topics.sh: some topics are missing"
log "topics: ${names[*]} present on $brokers"
