/* The one place h2o is included. h2o 2.2.5's pkg-config file does not say which event loop the
 * library was built for; Debian's libh2o-evloop uses h2o's own evloop, so H2O_USE_LIBUV must be
 * 0 before h2o.h is read (CMake passes it too; this guards other build systems). */
#ifndef SLUICE_H2O_H
#define SLUICE_H2O_H

#ifndef H2O_USE_LIBUV
#define H2O_USE_LIBUV 0
#endif

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "sluice/str.h"

static inline struct sl_str sl_str_from_iov(h2o_iovec_t v)
{
    return (struct sl_str){v.base, v.len};
}

static inline h2o_iovec_t sl_iov_from_str(struct sl_str s)
{
    return h2o_iovec_init(s.ptr, s.len);
}

#endif
