/* config_cluster.c - cluster.* keys -> segstream_cluster_options. The enum
 * choices of cluster.profile_codec are listed in the order of
 * segstream_profile_codec, so the choice index is the enum value. */
#include "consumer/config_cluster.h"

int segstream_config_cluster_options(const segstream_config *cfg, int dim, segstream_cluster_options *out,
                                     segstream_err *err)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = dim;
    o.k = (int)segstream_config_int(cfg, "cluster.k");
    o.window_ms = segstream_config_duration_ms(cfg, "cluster.window");
    o.pane_ms = segstream_config_duration_ms(cfg, "cluster.pane");
    o.half_life_ms = segstream_config_duration_ms(cfg, "cluster.half_life");
    o.allowed_lateness_ms = segstream_config_duration_ms(cfg, "cluster.allowed_lateness");
    o.max_future_skew_ms = segstream_config_duration_ms(cfg, "cluster.max_future_skew");
    o.init_sample = (int)segstream_config_int(cfg, "cluster.init_sample");
    o.seed = (uint64_t)segstream_config_int(cfg, "cluster.seed");
    o.retire_share = segstream_config_double(cfg, "cluster.retire_size");
    o.merge_cosine = segstream_config_double(cfg, "cluster.merge_similarity");
    o.hysteresis = segstream_config_double(cfg, "cluster.hysteresis");
    o.profile_codec = (segstream_profile_codec)segstream_config_enum(cfg, "cluster.profile_codec");
    o.label_terms = (int)segstream_config_int(cfg, "cluster.label_terms");
    o.reassign_slice = (int)segstream_config_int(cfg, "cluster.reassign_slice");
    o.max_users = (long)segstream_config_int(cfg, "cluster.max_users");
    if (segstream_cluster_options_validate(&o, err) < 0)
        return -1;
    *out = o;
    return 0;
}
