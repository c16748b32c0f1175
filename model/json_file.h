/* json_file.h - loads one JSON object file of a model folder (config.json,
 * tokenizer_config.json, ...) with jansson, with errors that name the file.
 * Used by the tokenizer and the BERT config readers alike. */
#ifndef SEGSTREAM_MODEL_JSON_FILE_H
#define SEGSTREAM_MODEL_JSON_FILE_H

#include "common/err.h"

#include <jansson.h>

/* Returns the file's top-level object (caller json_decref()s it). A missing
 * file returns json_null() when !required, else NULL with err set; so do
 * invalid JSON, duplicate keys and a top level that is not an object. */
json_t *segstream_json_file_load(const char *path, int required, segstream_err *err);

#endif
