#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "upstream_internal.h"

struct sl_pool *sl__pool_get(struct sl_upstreams *u, const char *key)
{
    for (size_t i = 0; i < u->n_pools; i++) {
        if (strcmp(u->pools[i]->key, key) == 0)
            return u->pools[i];
    }
    struct sl_pool *p = sl_xcalloc(1, sizeof(*p));
    p->key = sl_xstrdup(key);
    p->u = u;
    h2o_linklist_init_anchor(&p->idle);
    u->pools = sl_xrealloc(u->pools, (u->n_pools + 1) * sizeof(*u->pools));
    u->pools[u->n_pools++] = p;
    return p;
}

void sl__upconn_close(struct sl_upconn *c)
{
    if (h2o_linklist_is_linked(&c->idle_link)) {
        h2o_linklist_unlink(&c->idle_link);
        c->pool->n_idle--;
    }
    if (h2o_timeout_is_linked(&c->idle_timer))
        h2o_timeout_unlink(&c->idle_timer);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    free(c);
}

void sl_upstreams_on_idle_closed(struct sl_upstreams *u, void (*cb)(void *data), void *data)
{
    u->idle_closed_cb = cb;
    u->idle_closed_data = data;
}

static void close_idle(struct sl_upconn *c)
{
    struct sl_upstreams *u = c->pool->u;
    sl__upconn_close(c);
    if (u->idle_closed_cb != NULL)
        u->idle_closed_cb(u->idle_closed_data);
}

/* An idle HTTP/1.1 connection has nothing to say: any byte or EOF means the upstream closed it
 * (or broke the protocol), so it must not be reused. */
static void on_idle_read(h2o_socket_t *sock, const char *err)
{
    SL_UNUSED(err);
    close_idle(sock->data);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    close_idle(SL_CONTAINER_OF(entry, struct sl_upconn, idle_timer));
}

struct sl_upconn *sl__pool_take(struct sl_pool *p)
{
    if (h2o_linklist_is_empty(&p->idle))
        return NULL;
    struct sl_upconn *c = SL_CONTAINER_OF(p->idle.next, struct sl_upconn, idle_link);
    h2o_linklist_unlink(&c->idle_link);
    p->n_idle--;
    h2o_timeout_unlink(&c->idle_timer);
    h2o_socket_read_stop(c->sock);
    return c;
}

void sl__pool_put(struct sl_pool *p, struct sl_upconn *c)
{
    struct sl_upstreams *u = p->u;
    c->req = NULL;
    /* pool_max_idle 0 keeps no idle connection (AISIX's meaning); unset is SIZE_MAX. */
    if (u->pool_idle_ms == 0 || p->n_idle >= u->pool_max_idle) {
        if (u->pool_idle_ms == 0 || h2o_linklist_is_empty(&p->idle)) {
            sl__upconn_close(c);
            return;
        }
        /* Full: drop the connection idle the longest (the tail). */
        sl__upconn_close(SL_CONTAINER_OF(p->idle.prev, struct sl_upconn, idle_link));
    }
    h2o_linklist_insert(p->idle.next, &c->idle_link);
    p->n_idle++;
    c->idle_timer.cb = on_idle_timeout;
    sl__timeouts_link(&u->timeouts, u->pool_idle_ms, &c->idle_timer);
    h2o_socket_read_start(c->sock, on_idle_read);
}

void sl__pools_dispose(struct sl_upstreams *u)
{
    for (size_t i = 0; i < u->n_pools; i++) {
        struct sl_pool *p = u->pools[i];
        while (!h2o_linklist_is_empty(&p->idle))
            sl__upconn_close(SL_CONTAINER_OF(p->idle.next, struct sl_upconn, idle_link));
        free(p->key);
        free(p);
    }
    free(u->pools);
    u->pools = NULL;
    u->n_pools = 0;
}
