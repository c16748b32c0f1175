#!/usr/bin/env python3
"""compare_changes.py STREAM FILE - the Kafka stage's SegmentChange NDJSON
(STREAM) against file mode's (FILE) on the same events: STREAM must be a
prefix of FILE (file mode additionally finishes at the end of its input)
covering at least 90% of it; lines equal field by field, similarity bit
for bit (the encoder is batch-invariant), except source_offset (file mode
numbers lines from 1, Kafka offsets start at 0)."""
import json
import sys

stream = [json.loads(l) for l in open(sys.argv[1])]
ref = [json.loads(l) for l in open(sys.argv[2])]
if not stream or len(stream) > len(ref) or len(stream) < 0.9 * len(ref):
    sys.exit(f"stream has {len(stream)} changes, file mode {len(ref)}")
ids = [c["event_id"] for c in stream]
if len(set(ids)) != len(ids):
    sys.exit("duplicate event ids in the stream's output")
worst = 0.0
for i, (s, r) in enumerate(zip(stream, ref)):
    s, r = dict(s), dict(r)
    ss, rs = s.pop("similarity"), r.pop("similarity")
    if ss != rs:
        sys.exit(f"change {i}: similarity {ss} vs {rs}")
    if ss is not None:
        worst = max(worst, abs(ss - rs))
    s["source_offset"] += 1
    if s != r:
        sys.exit(f"change {i} differs:\n  stream {json.dumps(s)}\n  file   {json.dumps(r)}")
print(f"{len(stream)} changes equal to file mode's first {len(stream)} of {len(ref)} "
      f"(largest similarity difference {worst:.2e})")
