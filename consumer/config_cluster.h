/* config_cluster.h - the cluster.* keys of the configuration as the
 * clustering model's options (cluster/cluster.h): one mapping, used by the
 * stage and by segstream_config_validate(), so a configuration that passes
 * validation is one the model accepts. */
#ifndef SEGSTREAM_CONSUMER_CONFIG_CLUSTER_H
#define SEGSTREAM_CONSUMER_CONFIG_CLUSTER_H

#include "cluster/cluster.h"
#include "common/err.h"
#include "consumer/config.h"

/* segstream_cluster_default_options() with dim and the cluster.* keys set:
 * k, window, pane, half_life, allowed_lateness, max_future_skew,
 * init_sample, seed, retire_size (-> retire_share), merge_similarity
 * (-> merge_cosine), hysteresis, profile_codec, label_terms, reassign_slice,
 * max_users. Then checks the result with
 * segstream_cluster_options_validate(). Returns 0, or -1 with err. */
int segstream_config_cluster_options(const segstream_config *cfg, int dim, segstream_cluster_options *out,
                                     segstream_err *err);

#endif
