#include <inttypes.h>
#include <stdio.h>
#include <sys/time.h>

#include "sluice/access_log.h"
#include "sluice/base.h"
#include "sluice/log.h"

#define PATH_LOG_MAX  256
#define FIELD_LOG_MAX 160

static double elapsed_ms(const struct timeval *from)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    if (from->tv_sec == 0)
        return 0;
    return (double)(now.tv_sec - from->tv_sec) * 1e3 + (double)(now.tv_usec - from->tv_usec) / 1e3;
}

static const char *proto_name(int version)
{
    switch (version) {
    case 0x200:
        return "HTTP/2";
    case 0x101:
        return "HTTP/1.1";
    case 0x100:
        return "HTTP/1.0";
    default:
        return "-";
    }
}

/* Appends ` name=<escaped value>` when the value is set. */
static size_t put_field(char *dst, size_t cap, const char *name, struct sl_str v)
{
    if (v.len == 0 || cap < 8)
        return 0;
    char esc[FIELD_LOG_MAX];
    sl_log_escape(esc, sizeof(esc), v);
    int n = snprintf(dst, cap, " %s=%s", name, esc);
    return n < 0 ? 0 : SL_MIN((size_t)n, cap - 1);
}

static size_t put_ctx_fields(char *dst, size_t cap, const struct sl_reqctx *ctx)
{
    size_t o = 0;
    o += put_field(dst + o, cap - o, "model", ctx->model);
    o += put_field(dst + o, cap - o, "upstream_model", ctx->upstream_model);
    o += put_field(dst + o, cap - o, "key", ctx->key_name);
    if (ctx->prompt_tokens >= 0 && cap - o > 32)
        o += (size_t)snprintf(dst + o, cap - o, " prompt_tokens=%" PRId64, ctx->prompt_tokens);
    if (ctx->completion_tokens >= 0 && cap - o > 32)
        o += (size_t)snprintf(dst + o, cap - o, " completion_tokens=%" PRId64,
                              ctx->completion_tokens);
    if (ctx->error_kind != NULL)
        o += put_field(dst + o, cap - o, "error", sl_str_from_cstr(ctx->error_kind));
    return o;
}

void sl_access_log_write(h2o_req_t *req, const struct sl_reqctx *ctx, int status)
{
    if (!sl_log_enabled(SL_LOG_INFO))
        return;
    char path[PATH_LOG_MAX], method[32], extra[1024] = "";
    sl_log_escape(path, sizeof(path), sl_str_from_iov(req->input.path));
    struct sl_str m = sl_str_from_iov(req->input.method);
    sl_log_escape(method, sizeof(method), m);
    struct sl_str rid = ctx != NULL
                            ? ctx->request_id
                            : sl_str_from_iov(*h2o_req_getenv(req, H2O_STRLIT("sl.rid"), 1));
    char rid_esc[FIELD_LOG_MAX];
    sl_log_escape(rid_esc, sizeof(rid_esc), rid);
    if (ctx != NULL)
        put_ctx_fields(extra, sizeof(extra), ctx);
    sl_log_info("access method=%s path=%s status=%d duration_ms=%.3f bytes=%zu proto=%s "
                "request_id=%s%s",
                method, path, status, elapsed_ms(&req->timestamps.request_begin_at),
                req->bytes_sent, proto_name(req->version), rid_esc, extra);
}
