# stage_props.sh - sourced by the Kafka stage tests: the configuration they share.
# stage_properties ID BROKERS [WINDOW [HALF_LIFE]] prints properties for topics
# ID-in, -out, -seg, -state, -dlq and group ID: the real model on 2 threads, k 8 with a
# 50-event bootstrap (quick on 2 cores), day panes (MovieLens times span years, so no
# future-skew limit), /metrics on any free port (tests run side by side).
# SEGSTREAM_TEST_SHARED_MODEL=true runs the shared model
# (cluster.shared_model). A test appends its own keys after it.
stage_properties() {
  cat <<PROPS
model.path=$SEGSTREAM_MODEL_DIR
encoder.threads=2
cluster.k=8
cluster.init_sample=50
cluster.window=${3:-30d}
cluster.pane=1d
cluster.half_life=${4:-7d}
cluster.max_future_skew=3650d
cluster.shared_model=${SEGSTREAM_TEST_SHARED_MODEL:-false}
topics.input=$1-in
topics.output=$1-out
topics.segments=$1-seg
topics.state=$1-state
topics.dlq=$1-dlq
topics.create=true
group.id=$1
kafka.bootstrap.servers=$2
metrics.listen=127.0.0.1:0
PROPS
}
