/* config_stage.h - the configuration as the batch pipeline's settings: one
 * mapping of model.*, encoder.*, cluster.* and pipeline.* keys, shared by the
 * Kafka stage, replay and file mode. */
#ifndef SEGSTREAM_CONSUMER_CONFIG_STAGE_H
#define SEGSTREAM_CONSUMER_CONFIG_STAGE_H

#include "consumer/config.h"
#include "consumer/stage_settings.h"

/* The pipeline settings of a loaded (validated) configuration. Strings are
 * borrowed from cfg. */
segstream_stage_settings segstream_config_stage_settings(const segstream_config *cfg);

#endif
