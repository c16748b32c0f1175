#!/usr/bin/env bash
# ctest fixture: start (or reuse) the local broker and create the topics.
# kafka.sh takes its port from the tests' SEGSTREAM_BROKERS when that names
# one local broker, so a build configured for another port gets its own.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/kafka.sh" start
"$here/topics.sh"
