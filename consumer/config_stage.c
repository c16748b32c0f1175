/* config_stage.c - configuration keys -> segstream_stage_settings (see
 * config_stage.h). The only place that reads the cluster.* keys: validation
 * (config_cluster.c) maps them through these settings too. */
#include "consumer/config_stage.h"

segstream_stage_settings segstream_config_stage_settings(const segstream_config *cfg)
{
    segstream_stage_settings st = segstream_stage_default_settings();
    st.model_dir = segstream_config_string(cfg, "model.path");
    st.encoder_threads = (int)segstream_config_int(cfg, "encoder.threads");
    st.encoder_batch_tokens = (int)segstream_config_int(cfg, "encoder.batch_tokens");
    st.encoder_cache_entries = (size_t)segstream_config_int(cfg, "encoder.cache_entries");
    st.encoder_deterministic = segstream_config_bool(cfg, "encoder.deterministic");
    st.encoder_precision = segstream_config_enum(cfg, "encoder.precision");
    st.k = (int)segstream_config_int(cfg, "cluster.k");
    st.window_ms = segstream_config_duration_ms(cfg, "cluster.window");
    st.pane_ms = segstream_config_duration_ms(cfg, "cluster.pane");
    st.half_life_ms = segstream_config_duration_ms(cfg, "cluster.half_life");
    st.allowed_lateness_ms = segstream_config_duration_ms(cfg, "cluster.allowed_lateness");
    st.max_future_skew_ms = segstream_config_duration_ms(cfg, "cluster.max_future_skew");
    st.init_sample = (int)segstream_config_int(cfg, "cluster.init_sample");
    st.seed = (uint64_t)segstream_config_int(cfg, "cluster.seed");
    st.hysteresis = segstream_config_double(cfg, "cluster.hysteresis");
    st.retire_share = segstream_config_double(cfg, "cluster.retire_size");
    st.merge_cosine = segstream_config_double(cfg, "cluster.merge_similarity");
    st.profile_int8 = segstream_config_enum(cfg, "cluster.profile_codec") == 1;
    st.max_users = (long)segstream_config_int(cfg, "cluster.max_users");
    st.shared_model = segstream_config_bool(cfg, "cluster.shared_model");
    st.reassign_slice = (int)segstream_config_int(cfg, "cluster.reassign_slice");
    st.label_terms = (int)segstream_config_int(cfg, "cluster.label_terms");
    st.max_text_bytes = (size_t)segstream_config_int(cfg, "pipeline.max_text_bytes");
    return st;
}
