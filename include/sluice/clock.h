/* Time for the request path. */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

/* Microseconds on the monotonic clock. */
uint64_t sl_now_us(void);

#endif
