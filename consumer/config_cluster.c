/* config_cluster.c - cluster.* keys -> segstream_cluster_options, through
 * the stage's settings: the keys are read once (config_stage.c) and mapped to
 * the model's options once (stage_cluster.c), so what validation accepts is
 * exactly what the stage creates. */
#include "consumer/config_cluster.h"

#include "consumer/config_stage.h"
#include "consumer/stage_cluster.h"

int segstream_config_cluster_options(const segstream_config *cfg, int dim, segstream_cluster_options *out,
                                     segstream_err *err)
{
    segstream_stage_settings st = segstream_config_stage_settings(cfg);
    return segstream_stage_cluster_options(&st, dim, out, err);
}
