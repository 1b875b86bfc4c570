#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/http.h"
#include "sluice/json.h"
#include "sluice/reply.h"

#define ERROR_MESSAGE_MAX 1024
/* type and code are short identifiers; an upstream's error.code is cut to this by its reader. */
#define ERROR_IDENT_MAX 128

const char *sl_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

void sl_reply(h2o_req_t *req, int status, const char *content_type, struct sl_str body)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = sl_status_reason(status);
    req->res.content_length = body.len;
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_start_response(req, &generator);
    bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    h2o_iovec_t b = sl_iov_from_str(body);
    h2o_send(req, head ? NULL : &b, head ? 0 : 1, H2O_SEND_STATE_FINAL);
}

struct sl_str sl_error_envelope(h2o_mem_pool_t *pool, const char *type, const char *code,
                                struct sl_str message)
{
    struct sl_buf b;
    if (code == NULL)
        code = type;
    /* The message is capped; the envelope around it is small and fixed. */
    SL_ASSERT(strlen(type) < ERROR_IDENT_MAX && strlen(code) < ERROR_IDENT_MAX);
    /* Every byte escapes to at most 6 ("\u00XX"); the fixed text around them is 40 bytes. */
    sl_buf_init(&b, (ERROR_MESSAGE_MAX + 2 * ERROR_IDENT_MAX) * 6 + 64);
    if (message.len > ERROR_MESSAGE_MAX)
        message.len = ERROR_MESSAGE_MAX;
    sl_buf_appendf(&b, "{\"error\":{\"message\":");
    sl_json_escape(&b, message);
    /* type and code are escaped too: an upstream 4xx's error.code reaches here, and an
     * unescaped '"' in it would let the upstream forge the rest of the envelope. */
    sl_buf_appendf(&b, ",\"type\":");
    sl_json_escape(&b, sl_str_from_cstr(type));
    sl_buf_appendf(&b, ",\"code\":");
    sl_json_escape(&b, sl_str_from_cstr(code));
    sl_buf_appendf(&b, "}}");
    h2o_iovec_t out = h2o_strdup(pool, b.ptr, b.len);
    sl_buf_dispose(&b);
    return sl_str_from_iov(out);
}

static struct sl_str format_message(char *msg, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static struct sl_str format_message(char *msg, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(msg, cap, fmt, ap);
    if (n < 0)
        n = 0;
    return sl_str_init(msg, SL_MIN((size_t)n, cap - 1));
}

static void reply_errorv(h2o_req_t *req, int status, const char *type, const char *code,
                         const char *kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void reply_errorv(h2o_req_t *req, int status, const char *type, const char *code,
                         const char *kind, const char *fmt, va_list ap)
{
    char msg[ERROR_MESSAGE_MAX];
    struct sl_reqctx *ctx = sl_reqctx_of(req);
    SL_ASSERT(status >= 400 && status <= 599);
    if (ctx != NULL)
        ctx->error_kind = kind;
    struct sl_str body =
        sl_error_envelope(&req->pool, type, code, format_message(msg, sizeof(msg), fmt, ap));
    sl_reply(req, status, "application/json", body);
}

void sl_reply_error(h2o_req_t *req, int status, const char *type, const char *code,
                    const char *kind, const char *fmt, ...)
{
    va_list ap;
    SL_ASSERT(status != 0); /* a row without a status goes through sl_reply_error_status */
    va_start(ap, fmt);
    reply_errorv(req, status, type, code, kind, fmt, ap);
    va_end(ap);
}

void sl_reply_error_status(h2o_req_t *req, int status, int row_status, const char *type,
                           const char *code, const char *kind, const char *fmt, ...)
{
    va_list ap;
    SL_UNUSED(row_status);
    va_start(ap, fmt);
    reply_errorv(req, status, type, code, kind, fmt, ap);
    va_end(ap);
}

struct sl_str sl_error_envelopef(h2o_mem_pool_t *pool, int status, const char *type,
                                 const char *code, const char *kind, const char *fmt, ...)
{
    char msg[ERROR_MESSAGE_MAX];
    va_list ap;
    SL_UNUSED(status);
    SL_UNUSED(kind);
    va_start(ap, fmt);
    struct sl_str m = format_message(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_error_envelope(pool, type, code, m);
}
