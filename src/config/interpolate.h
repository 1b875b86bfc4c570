/* ${VAR} interpolation of resources.yaml string values from an environment array. Internal to
 * the resources loader and its tests; not part of the public contract. */
#ifndef SLUICE_CONFIG_INTERPOLATE_H
#define SLUICE_CONFIG_INTERPOLATE_H

#include <stddef.h>

#include "sluice/str.h"

enum sl__interp_status {
    SL__INTERP_OK = 0,
    SL__INTERP_UNSET,        /* ${NAME} names no variable */
    SL__INTERP_EMPTY,        /* ${NAME} names a variable set to "" */
    SL__INTERP_UNTERMINATED, /* "${" without a closing "}" */
    SL__INTERP_NO_NAME,      /* "${}" */
    SL__INTERP_BAD_NAME,     /* a name that is not [A-Za-z_][A-Za-z0-9_]* */
    SL__INTERP_TOO_LONG,     /* the result would be longer than the cap */
};

struct sl__interp {
    char *text; /* the result, NUL-terminated, exactly len + 1 bytes; owned by the caller */
    size_t len;
    unsigned refs; /* how many ${NAME} references were replaced */
    enum sl__interp_status status;
    struct sl_str name; /* the first bad reference's name (into the input); never a value */
    size_t max;         /* the cap the expansion ran with */
};

/* Expands s: "${NAME}" becomes NAME's value in envp (a NULL-terminated "NAME=value" array; NULL
 * means empty), "$$" becomes "$", any other "$" stays. The result may be at most max bytes (a
 * large variable repeated many times must not exhaust memory). It is allocated once at its exact
 * size, so a secret value is never left behind in a freed, grown buffer. Returns 0 with
 * out->text set, or SL_EPARSE with out->status and out->name describing the first bad reference
 * and out->text NULL. */
int sl__interpolate(struct sl_str s, char *const *envp, size_t max, struct sl__interp *out);

/* The value of the variable name in envp (the first entry wins, as with getenv), or NULL. */
const char *sl__env_get(char *const *envp, struct sl_str name);

/* Describes a failed expansion for a message, e.g. "environment variable HOST is not set"; names
 * the variable, never a value. Returns buf. */
const char *sl__interp_describe(const struct sl__interp *r, char *buf, size_t cap);

#endif
