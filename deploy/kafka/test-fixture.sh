#!/usr/bin/env bash
# ctest fixture: start (or reuse) the local broker and create the topics.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/kafka.sh" start
"$here/topics.sh"
