/* Text helpers shared by the config.yaml and resources.yaml loaders for their messages. Internal;
 * not part of the public contract. */
#ifndef SLUICE_CONFIG_TEXT_H
#define SLUICE_CONFIG_TEXT_H

#include <stddef.h>

#include "sluice/str.h"

/* Levenshtein distance between a and b when it is at most max; otherwise (and for strings longer
 * than 64 bytes, which are never known keys) returns max + 1 without computing it. max < 64. */
size_t sl__edit_distance(struct sl_str a, struct sl_str b, size_t max);

#endif
