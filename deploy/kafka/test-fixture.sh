#!/usr/bin/env bash
# ctest fixture: start (or reuse) the local broker and create the topics.
# The broker's port follows the tests' SEGSTREAM_BROKERS when it names one
# local broker, so a build configured for another port gets its own broker.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${SEGSTREAM_KAFKA_PORT:-}" ] && [[ "${SEGSTREAM_BROKERS:-}" =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]]; then
  export SEGSTREAM_KAFKA_PORT="${BASH_REMATCH[2]}"
fi
"$here/kafka.sh" start
"$here/topics.sh"
