/* RESP replies through hiredis's reader with Sluice's own reply objects, so a server cannot make
 * the client allocate without bound: strings, arrays and the unparsed input are capped
 * (redis.h), and a reply past a cap fails the reader instead of growing. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/read.h>

#include "sluice/base.h"
#include "sluice/redis.h"

struct sl_resp_reader {
    redisReader *r;
    bool broken;
};

static void attach(const redisReadTask *task, struct sl_redis_reply *node)
{
    if (task->parent == NULL)
        return;
    struct sl_redis_reply *parent = task->parent->obj;
    SL_ASSERT(parent->type == SL_REDIS_ARRAY && (size_t)task->idx < parent->n);
    parent->elements[task->idx] = node;
}

static struct sl_redis_reply *node_new(const redisReadTask *task, enum sl_redis_type type,
                                       size_t extra)
{
    struct sl_redis_reply *n = sl_xcalloc(1, sizeof(*n) + extra);
    n->type = type;
    attach(task, n);
    return n;
}

/* Returning NULL makes hiredis report "Out of memory" and stop: used for the caps. */
static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    if (len > SL_RESP_MAX_STRING)
        return NULL;
    struct sl_redis_reply *n = node_new(task, (enum sl_redis_type)task->type, len + 1);
    char *copy = (char *)(n + 1);
    memcpy(copy, str, len);
    copy[len] = '\0';
    n->str = sl_str_init(copy, len);
    return n;
}

static void *create_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || (unsigned)elements > SL_RESP_MAX_ELEMENTS)
        return NULL;
    struct sl_redis_reply *n = node_new(task, SL_REDIS_ARRAY, 0);
    n->n = (size_t)elements;
    n->elements = elements != 0 ? sl_xcalloc((size_t)elements, sizeof(*n->elements)) : NULL;
    return n;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    struct sl_redis_reply *n = node_new(task, SL_REDIS_INTEGER, 0);
    n->integer = value;
    return n;
}

static void *create_nil(const redisReadTask *task)
{
    return node_new(task, SL_REDIS_NIL, 0);
}

void sl_redis_reply_free(struct sl_redis_reply *reply)
{
    if (reply == NULL)
        return;
    for (size_t i = 0; i < reply->n; i++)
        sl_redis_reply_free(reply->elements[i]);
    free(reply->elements);
    free(reply);
}

static void free_object(void *obj)
{
    sl_redis_reply_free(obj);
}

static redisReplyObjectFunctions functions = {create_string, create_array, create_integer,
                                              create_nil, free_object};

struct sl_resp_reader *sl_resp_reader_new(void)
{
    struct sl_resp_reader *r = sl_xcalloc(1, sizeof(*r));
    r->r = redisReaderCreateWithFunctions(&functions);
    SL_ASSERT(r->r != NULL);
    return r;
}

void sl_resp_reader_free(struct sl_resp_reader *r)
{
    if (r == NULL)
        return;
    redisReaderFree(r->r);
    free(r);
}

int sl_resp_feed(struct sl_resp_reader *r, const char *data, size_t len)
{
    if (r->broken || r->r->len - r->r->pos + len > SL_RESP_MAX_PENDING) {
        r->broken = true;
        return SL_E2BIG;
    }
    if (redisReaderFeed(r->r, data, len) != REDIS_OK) {
        r->broken = true;
        return SL_E2BIG;
    }
    return SL_OK;
}

int sl_resp_next(struct sl_resp_reader *r, struct sl_redis_reply **out, const char **why)
{
    void *reply = NULL;
    *out = NULL;
    if (r->broken) {
        *why = "the reply stream broke earlier";
        return SL_EPARSE;
    }
    if (redisReaderGetReply(r->r, &reply) != REDIS_OK) {
        r->broken = true;
        *why = r->r->err == REDIS_ERR_OOM ? "a reply is larger than the client accepts"
                                          : "malformed reply (protocol error)";
        return SL_EPARSE;
    }
    if (reply == NULL)
        return SL_AGAIN;
    *out = reply;
    return SL_OK;
}
