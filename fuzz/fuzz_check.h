/* Property checks for the fuzz targets. An assert that is compiled out would let a broken
 * property pass silently, so a failed check prints where and aborts: libFuzzer keeps the input
 * as a crash, and a corpus replay fails its ctest entry. */
#ifndef SL_FUZZ_CHECK_H
#define SL_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
