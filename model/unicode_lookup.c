/* unicode_lookup.c - searches the generated mapping tables (NFD, lowercase).
 * Kept apart from the generated file so that one stays pure data. */
#include "model/unicode_tables.h"

const segstream_uc_mapping *segstream_uc_find(const segstream_uc_mapping *table, size_t count,
                                              uint32_t cp)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid].code_point < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && table[lo].code_point == cp ? &table[lo] : NULL;
}
