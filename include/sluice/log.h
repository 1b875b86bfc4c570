/* Logging to stderr: one line per event, written with a single write(2) so lines from several
 * threads never interleave. Format:
 *   2026-11-29T07:43:27.123Z INFO  message key=value key="quoted value"
 * Callers put key=value pairs in the format string; values that came off the wire must go
 * through sl_log_escape first so a client cannot forge log lines. Thread-safe. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "sluice/str.h"

enum sl_log_level {
    SL_LOG_ERROR = 0,
    SL_LOG_WARN,
    SL_LOG_INFO,
    SL_LOG_DEBUG,
    SL_LOG_TRACE,
};

extern _Atomic int sl__log_level;

static inline bool sl_log_enabled(enum sl_log_level level)
{
    return (int)level <= atomic_load_explicit(&sl__log_level, memory_order_relaxed);
}

void sl_log_set_level(enum sl_log_level level);

/* Parses "error", "warn", "info", "debug" or "trace" (case-insensitive). Returns 0 or
 * SL_EPARSE. */
int sl_log_level_parse(struct sl_str s, enum sl_log_level *out);
const char *sl_log_level_name(enum sl_log_level level);

/* Emits one line if level is enabled. Lines longer than 8 KiB are truncated with "...". */
void sl_log(enum sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sl_log_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)
#define sl_log_warn(...)  sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_log_info(...)  sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_log_debug(...)                                                                          \
    do {                                                                                           \
        if (sl_log_enabled(SL_LOG_DEBUG))                                                          \
            sl_log(SL_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

/* Writes s into dst as a double-quoted string with \" \\ and \xNN escapes for control and
 * non-ASCII bytes, truncating to fit cap (always NUL-terminated when cap > 0). Returns the
 * number of bytes written, excluding the NUL. */
size_t sl_log_escape(char *dst, size_t cap, struct sl_str s);

/* Formats the current wall-clock time as RFC 3339 UTC with milliseconds into dst (>= 25
 * bytes). Returns the length. */
size_t sl_log_timestamp(char *dst, size_t cap);

#endif
