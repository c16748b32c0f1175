#include "model/json_file.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

json_t *segstream_json_file_load(const char *path, int required, segstream_err *err)
{
    struct stat sb;
    if (stat(path, &sb)) {
        if (!required && errno == ENOENT)
            return json_null();
        segstream_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        segstream_err_set(err, "%s: not valid JSON (line %d: %s)", path, jerr.line, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        segstream_err_set(err, "%s: not a JSON object", path);
        return NULL;
    }
    return root;
}
