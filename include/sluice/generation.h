/* Configuration generations: an immutable struct sl_resources with a reference count, so a
 * reload can swap what new requests see while requests in flight finish on the one they
 * started with.
 *
 * Requests never touch the shared atomic count. Each worker holds one reference to the
 * generation it currently serves and counts its own requests on that generation in a plain,
 * worker-local pin; the pin gives its reference back when the worker has moved to a newer
 * generation and its last request on the old one ended. Publishing is a message to each
 * worker (never a shared pointer the workers poll), so no worker can load a generation that
 * is being freed. */
#ifndef SLUICE_GENERATION_H
#define SLUICE_GENERATION_H

#include <stdatomic.h>
#include <stdint.h>

#include "sluice/resources.h"

struct sl_generation {
    _Atomic uint64_t refs;
    uint64_t id;              /* 1 for the boot configuration, +1 per successful reload */
    struct sl_resources *res; /* owned */
};

/* Takes ownership of res; the new generation has one reference (the caller's). */
struct sl_generation *sl_generation_new(struct sl_resources *res, uint64_t id);
void sl_generation_ref(struct sl_generation *g);
/* Frees the generation (and its resources) when the last reference goes; any thread. */
void sl_generation_unref(struct sl_generation *g);

/* A worker's requests on one generation. Worker thread only. */
struct sl_gen_pin {
    struct sl_generation *gen; /* the pin owns one reference */
    uint64_t requests;
    bool current; /* false once the worker moved to a newer generation */
};

#endif
