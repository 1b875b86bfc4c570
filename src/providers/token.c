/* OAuth access tokens, cached per process with a single fetch in flight per credential (token.h).
 *
 * Locking: `registry_mu` guards the list of slots (one per credential, created on first use and
 * kept for the life of the process, so a slot pointer never dangles) and the list of per-thread
 * receivers. Each slot's `mu` guards its token, expiry, failure memo, state and waiter list. A
 * fetch runs on the loop of the worker that started it; its waiters, whatever their worker, are
 * woken through their own worker's h2o message receiver and read the outcome from the slot
 * under its lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/clock.h"
#include "sluice/json.h"
#include "sluice/json_w.h"
#include "sluice/jwt.h"
#include "sluice/log.h"
#include "sluice/put.h"
#include "sluice/token.h"
#include "sluice/upstream.h"
#include "sluice_version.h"

/* A token is refreshed from a quarter of its lifetime (at most 5 minutes) before it expires, and
 * no longer handed out from a tenth of it (at most a minute) before: a request that got it still
 * has time to reach the upstream. */
#define REFRESH_AHEAD_MAX_MS  (5u * 60 * 1000)
#define UNUSABLE_AHEAD_MAX_MS (60u * 1000)
/* A failed fetch is reported to later requests for this long instead of trying again. */
#define FAILURE_MEMO_MS   1000
#define FETCH_DEADLINE_MS 10000
/* Google asks for assertions that live at most an hour. */
#define JWT_LIFETIME_S     3600
#define MAX_RESPONSE_BYTES (64u * 1024)
#define MAX_TOKEN_BYTES    (16u * 1024)
#define MAX_ERROR_TEXT     240

enum slot_state {
    SLOT_IDLE = 0, /* no fetch running */
    SLOT_FETCHING, /* one fetch running (on some worker); waiters are queued */
};

/* What a slot needs to fetch a token: copies of the credential's fields (a reload frees the
 * resources that held the original). Immutable once the slot exists. */
struct slot_cred {
    enum sl_cred_kind kind;
    char *client_id, *client_secret, *scope; /* Entra */
    char *client_email;                      /* service account */
    EVP_PKEY *pkey;                          /* service account */
    char *token_url;
    struct sl_origin origin;
    char *path;
    char *key_name; /* for log lines: the first provider key that used it */
};

struct slot {
    struct slot *next;
    uint8_t id[32];
    struct slot_cred cred;
    pthread_mutex_t mu;
    /* Guarded by mu. */
    enum slot_state state;
    char *token;
    size_t token_len;
    uint64_t usable_until_ms; /* monotonic ms; 0: no token */
    uint64_t refresh_from_ms;
    uint64_t
        failed_at_ms; /* monotonic ms of the last failed fetch; 0: none since the last success */
    char error[MAX_ERROR_TEXT + 64];
    h2o_linklist_t waiters; /* struct sl_token_wait.link, oldest first */
};

/* One per worker thread that ever waited: its loop's receiver for wake-ups. */
struct thread_rx {
    h2o_multithread_receiver_t rx;
    struct thread_rx *next;
};

enum wait_state {
    WAIT_LINKED = 0, /* in its slot's waiter list */
    WAIT_SENT,       /* taken from the list; a message to its thread is (being) sent */
};

struct sl_token_wait {
    h2o_multithread_message_t super; /* the wake-up message */
    h2o_linklist_t link;             /* in slot->waiters while WAIT_LINKED */
    struct slot *slot;
    struct thread_rx *rx;
    enum wait_state state;
    bool cancelled; /* WAIT_SENT but its request went away: freed on delivery */
    sl_token_done_fn *done;
    void *ud;
};

struct fetch {
    struct slot *slot;
    struct sl_buf request;
    h2o_iovec_t iov;
    struct sl_buf body;
    int status;
    uint64_t started_ms; /* the token's lifetime counts from here: it was issued no earlier */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static struct thread_rx *receivers;
static _Thread_local struct thread_rx *this_rx;
static _Atomic uint64_t fetches;

static uint64_t now_ms(void)
{
    return sl_now_us() / 1000;
}

uint64_t sl_token_fetches(void)
{
    return fetches;
}

/* ---- slots ---- */

static EVP_PKEY *load_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return k;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? sl_xstrdup(s) : NULL;
}

/* A new slot for cred, or NULL when its key cannot be read (checked at load, so only a broken
 * OpenSSL gets here). */
static struct slot *slot_new(const struct sl_cred *cred, const char *key_name)
{
    struct slot *s = sl_xcalloc(1, sizeof(*s));
    struct slot_cred *c = &s->cred;
    memcpy(s->id, cred->id, sizeof(s->id));
    c->kind = cred->kind;
    c->client_id = dup_or_null(cred->client_id);
    c->client_secret = dup_or_null(cred->client_secret);
    c->scope = dup_or_null(cred->scope);
    c->client_email = dup_or_null(cred->client_email);
    c->token_url = sl_xstrdup(cred->token_url);
    c->origin = (struct sl_origin){
        .tls = cred->token_origin.tls,
        .host = sl_xstrdup(cred->token_origin.host),
        .port = cred->token_origin.port,
        .authority = sl_xstrdup(cred->token_origin.authority),
        .base_path = sl_xstrdup(cred->token_origin.base_path),
        .key = sl_xstrdup(cred->token_origin.key),
    };
    c->path = sl_xstrdup(cred->token_path[0] != '\0' ? cred->token_path : "/");
    c->key_name = sl_xstrdup(key_name);
    if (c->kind == SL_CRED_GCP_SA && (c->pkey = load_key(cred->private_key)) == NULL)
        sl_log_warn("provider key \"%s\": cannot read the service account's private key", key_name);
    pthread_mutex_init(&s->mu, NULL);
    h2o_linklist_init_anchor(&s->waiters);
    return s;
}

static struct slot *slot_of(const struct sl_cred *cred, const char *key_name)
{
    struct slot *s;
    pthread_mutex_lock(&registry_mu);
    for (s = slots; s != NULL; s = s->next)
        if (memcmp(s->id, cred->id, sizeof(s->id)) == 0)
            break;
    if (s == NULL) {
        s = slot_new(cred, key_name);
        s->next = slots;
        slots = s;
    }
    pthread_mutex_unlock(&registry_mu);
    return s;
}

/* ---- wake-ups ---- */

static void deliver(struct sl_token_wait *w)
{
    struct slot *s = w->slot;
    char why[sizeof(s->error)];
    char *copy = NULL;
    size_t len = 0;
    pthread_mutex_lock(&s->mu);
    if (s->usable_until_ms != 0 && now_ms() < s->usable_until_ms) {
        copy = sl_xstrndup(s->token, s->token_len);
        len = s->token_len;
    } else {
        snprintf(why, sizeof(why), "%s",
                 s->error[0] != '\0' ? s->error : "no access token could be obtained in time");
    }
    pthread_mutex_unlock(&s->mu);
    if (copy != NULL) {
        w->done(w->ud, SL_OK, sl_str_init(copy, len), NULL);
        OPENSSL_cleanse(copy, len);
        free(copy);
    } else {
        w->done(w->ud, SL_ERR, SL_STR_NULL, why);
    }
}

static void on_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    SL_UNUSED(rx);
    while (!h2o_linklist_is_empty(messages)) {
        struct sl_token_wait *w = SL_CONTAINER_OF(messages->next, struct sl_token_wait, super.link);
        h2o_linklist_unlink(&w->super.link);
        if (!w->cancelled)
            deliver(w);
        free(w);
    }
}

/* This thread's receiver on ctx's queue, registered the first time the thread waits. Workers
 * live as long as the process, so it is never unregistered. */
static struct thread_rx *thread_receiver(h2o_context_t *ctx)
{
    if (this_rx != NULL)
        return this_rx;
    struct thread_rx *r = sl_xcalloc(1, sizeof(*r));
    h2o_multithread_register_receiver(ctx->queue, &r->rx, on_messages);
    pthread_mutex_lock(&registry_mu);
    r->next = receivers; /* reachable from a global: leak checkers see it in use */
    receivers = r;
    pthread_mutex_unlock(&registry_mu);
    this_rx = r;
    return r;
}

/* Takes every waiter off s (under s->mu) and wakes each on its own thread. */
static void wake_all(struct slot *s)
{
    h2o_linklist_t taken;
    h2o_linklist_init_anchor(&taken);
    pthread_mutex_lock(&s->mu);
    while (!h2o_linklist_is_empty(&s->waiters)) {
        struct sl_token_wait *w = SL_CONTAINER_OF(s->waiters.next, struct sl_token_wait, link);
        h2o_linklist_unlink(&w->link);
        w->state = WAIT_SENT;
        h2o_linklist_insert(&taken, &w->link);
    }
    pthread_mutex_unlock(&s->mu);
    /* Sent outside the lock: a waiter in WAIT_SENT is freed only by its receiver. */
    while (!h2o_linklist_is_empty(&taken)) {
        struct sl_token_wait *w = SL_CONTAINER_OF(taken.next, struct sl_token_wait, link);
        h2o_linklist_unlink(&w->link);
        h2o_multithread_send_message(&w->rx->rx, &w->super);
    }
}

void sl_token_cancel(struct sl_token_wait *w)
{
    struct slot *s = w->slot;
    bool linked;
    pthread_mutex_lock(&s->mu);
    linked = w->state == WAIT_LINKED;
    if (linked)
        h2o_linklist_unlink(&w->link);
    else
        w->cancelled = true; /* its message is on the way to this very thread */
    pthread_mutex_unlock(&s->mu);
    if (linked)
        free(w);
}

/* ---- the fetch ---- */

/* Appends s form-urlencoded (RFC 3986 unreserved characters kept). */
static int form_append(struct sl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        int rc = plain ? sl_buf_append(b, s, 1) : sl_buf_append(b, esc, 3);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* The JWT bearer assertion of a service account (RFC 7523): iss, scope, aud, iat, exp. */
static int sa_assertion(const struct slot_cred *c, struct sl_buf *out)
{
    struct sl_buf claims;
    struct sl_json_w w;
    int64_t iat = (int64_t)time(NULL);
    int rc;
    if (c->pkey == NULL)
        return SL_ERR;
    sl_buf_init(&claims, 16 * 1024);
    sl_jw_init(&w, &claims);
    sl_jw_obj(&w);
    sl_jw_kstr(&w, "iss", sl_str_from_cstr(c->client_email));
    sl_jw_kstr(&w, "scope", sl_str_from_cstr(c->scope));
    sl_jw_kstr(&w, "aud", sl_str_from_cstr(c->token_url));
    sl_jw_kint(&w, "iat", iat);
    sl_jw_kint(&w, "exp", iat + JWT_LIFETIME_S);
    sl_jw_obj_end(&w);
    rc = sl_jw_finish(&w);
    if (rc == SL_OK)
        rc = sl_jwt_sign_rs256(c->pkey, sl_buf_str(&claims), out);
    sl_buf_dispose(&claims);
    return rc;
}

/* The form body: client credentials (Entra) or a JWT bearer grant (service account). */
static int form_body(const struct slot_cred *c, struct sl_buf *b)
{
    int rc;
    if (c->kind == SL_CRED_ENTRA) {
        if ((rc = sl_buf_append_str(b, SL_STRLIT("grant_type=client_credentials&client_id="))) !=
                SL_OK ||
            (rc = form_append(b, c->client_id)) != SL_OK ||
            (rc = sl_buf_append_str(b, SL_STRLIT("&client_secret="))) != SL_OK ||
            (rc = form_append(b, c->client_secret)) != SL_OK ||
            (rc = sl_buf_append_str(b, SL_STRLIT("&scope="))) != SL_OK)
            return rc;
        return form_append(b, c->scope);
    }
    rc = sl_buf_append_str(b, SL_STRLIT("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3A"
                                        "jwt-bearer&assertion="));
    /* base64url needs no encoding in a form. */
    return rc == SL_OK ? sa_assertion(c, b) : rc;
}

static int build_request(const struct slot_cred *c, bool absolute, struct sl_buf *req)
{
    struct sl_buf body;
    int rc;
    sl_buf_init(&body, 64 * 1024);
    rc = form_body(c, &body);
    if (rc == SL_OK)
        rc = sl_buf_appendf(req,
                            "POST %s%s%s HTTP/1.1\r\nHost: %s\r\n"
                            "Content-Type: application/x-www-form-urlencoded\r\n"
                            "Accept: application/json\r\nAccept-Encoding: identity\r\n"
                            "User-Agent: sluice/" SL_VERSION_BASE "\r\nContent-Length: %zu\r\n\r\n",
                            absolute ? (c->origin.tls ? "https://" : "http://") : "",
                            absolute ? c->origin.authority : "", c->path, c->origin.authority,
                            body.len);
    if (rc == SL_OK)
        rc = sl_buf_append_str(req, sl_buf_str(&body));
    if (body.ptr != NULL)
        OPENSSL_cleanse(body.ptr, body.len);
    sl_buf_dispose(&body);
    return rc;
}

/* text with every copy of secret replaced by [REDACTED], cut to MAX_ERROR_TEXT bytes. */
static void redacted(char *dst, size_t cap, struct sl_str text, const char *secret)
{
    size_t n = 0, slen = secret != NULL ? strlen(secret) : 0;
    for (size_t i = 0; i < text.len && n + 1 < cap && n < MAX_ERROR_TEXT; i++) {
        if (slen != 0 && i + slen <= text.len && memcmp(text.ptr + i, secret, slen) == 0) {
            n += (size_t)snprintf(dst + n, cap - n, "[REDACTED]");
            i += slen - 1;
            continue;
        }
        unsigned char ch = (unsigned char)text.ptr[i];
        dst[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    dst[SL_MIN(n, cap - 1)] = '\0';
}

/* A JSON string member unescaped into dst (cut at cap - 1). */
static bool string_of(const struct sl_json_member *m, char *dst, size_t cap)
{
    struct sl_buf b;
    bool ok = false;
    if (m->type != SL_JSON_STRING)
        return false;
    sl_buf_init(&b, cap - 1);
    if (sl_json_unescape(m->value, &b) == SL_OK && b.len != 0) {
        memcpy(dst, b.ptr, b.len);
        dst[b.len] = '\0';
        ok = true;
    }
    sl_buf_dispose(&b);
    return ok;
}

/* The endpoint's OAuth error ({"error", "error_description"}) as text, else its status. */
static void describe_error(struct fetch *f, char *dst, size_t cap)
{
    static const struct sl_str keys[] = {SL_STR_INIT("error"), SL_STR_INIT("error_description")};
    struct sl_json_member m[2];
    char code[96] = "", desc[MAX_ERROR_TEXT] = "", text[MAX_ERROR_TEXT + 128];
    struct sl_str body = sl_buf_str(&f->body);
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) == SL_OK) {
        if (!string_of(&m[0], code, sizeof(code)) && m[0].type == SL_JSON_OBJECT) {
            /* Google's API error envelope {"error": {"message": ...}} */
            struct sl_json_member msg;
            if (sl_json_find(m[0].value, SL_STRLIT("message"), &msg) == SL_OK)
                string_of(&msg, desc, sizeof(desc));
        }
        string_of(&m[1], desc, sizeof(desc));
    }
    if (code[0] != '\0' || desc[0] != '\0')
        snprintf(text, sizeof(text), "%s%s%s", code, code[0] != '\0' && desc[0] != '\0' ? ": " : "",
                 desc);
    else
        snprintf(text, sizeof(text), "(no OAuth error in the body)");
    char shown[MAX_ERROR_TEXT + 16];
    redacted(shown, sizeof(shown), sl_str_from_cstr(text), f->slot->cred.client_secret);
    snprintf(dst, cap, "the token endpoint %s answered %d: %s", f->slot->cred.token_url, f->status,
             shown);
}

/* Reads {"access_token", "expires_in"} into the slot. Returns false with why on a bad body. */
static bool parse_token(struct fetch *f, char **token, size_t *len, uint64_t *lifetime_ms,
                        char *why, size_t whylen)
{
    static const struct sl_str keys[] = {SL_STR_INIT("access_token"), SL_STR_INIT("expires_in")};
    struct sl_json_member m[2];
    struct sl_buf b;
    uint64_t secs = 0;
    if (sl_json_scan_object(sl_buf_str(&f->body), SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) !=
            SL_OK ||
        m[0].type != SL_JSON_STRING) {
        snprintf(why, whylen, "the token endpoint %s answered 200 without an access_token",
                 f->slot->cred.token_url);
        return false;
    }
    /* expires_in: a number (OAuth), or the same in a string (Entra's v1 endpoint). */
    struct sl_str e = m[1].value;
    if (m[1].type == SL_JSON_STRING)
        e = sl_str_init(e.ptr + 1, e.len - 2);
    if ((m[1].type != SL_JSON_NUMBER && m[1].type != SL_JSON_STRING) ||
        sl_str_to_u64(e, 366ull * 24 * 3600, &secs) != SL_OK || secs == 0) {
        snprintf(why, whylen, "the token endpoint %s answered without a valid expires_in",
                 f->slot->cred.token_url);
        return false;
    }
    sl_buf_init(&b, MAX_TOKEN_BYTES);
    bool ok = sl_json_unescape(m[0].value, &b) == SL_OK && b.len != 0;
    for (size_t i = 0; ok && i < b.len; i++)
        ok = (unsigned char)b.ptr[i] > 0x20 && (unsigned char)b.ptr[i] < 0x7f;
    if (!ok) {
        if (b.ptr != NULL)
            OPENSSL_cleanse(b.ptr, b.len);
        sl_buf_dispose(&b);
        snprintf(why, whylen,
                 "the token endpoint %s answered an access_token that cannot be "
                 "sent in a header",
                 f->slot->cred.token_url);
        return false;
    }
    *token = sl_xstrndup(b.ptr, b.len);
    *len = b.len;
    OPENSSL_cleanse(b.ptr, b.len);
    sl_buf_dispose(&b);
    *lifetime_ms = secs * 1000;
    return true;
}

/* Ends the fetch: the slot gets the token or the failure, and every waiter is woken. */
static void finish(struct fetch *f, char *token, size_t len, uint64_t lifetime_ms, const char *why)
{
    struct slot *s = f->slot;
    uint64_t now = now_ms(), from = f->started_ms;
    pthread_mutex_lock(&s->mu);
    s->state = SLOT_IDLE;
    if (token != NULL) {
        if (s->token != NULL)
            OPENSSL_cleanse(s->token, s->token_len);
        free(s->token);
        s->token = token;
        s->token_len = len;
        s->usable_until_ms = from + lifetime_ms - SL_MIN(lifetime_ms / 10, UNUSABLE_AHEAD_MAX_MS);
        s->refresh_from_ms = from + lifetime_ms - SL_MIN(lifetime_ms / 4, REFRESH_AHEAD_MAX_MS);
        s->failed_at_ms = 0;
        s->error[0] = '\0';
    } else {
        s->failed_at_ms = now != 0 ? now : 1;
        snprintf(s->error, sizeof(s->error), "%s", why);
    }
    pthread_mutex_unlock(&s->mu);
    if (token != NULL)
        sl_log_debug("provider key \"%s\": new access token, valid for %llu s", s->cred.key_name,
                     (unsigned long long)(lifetime_ms / 1000));
    else
        sl_log_warn("provider key \"%s\": access token refresh failed: %s", s->cred.key_name, why);
    wake_all(s);
    OPENSSL_cleanse(f->request.ptr, f->request.len);
    sl_buf_dispose(&f->request);
    sl_buf_dispose(&f->body);
    free(f);
}

static int on_head(void *ud, const struct sl_upstream_head *h)
{
    struct fetch *f = ud;
    f->status = h->status;
    return 0;
}

/* A body over the cap ends the exchange here: on_done is not called then. */
static int on_body(void *ud, const char *data, size_t len)
{
    struct fetch *f = ud;
    if (sl_buf_append(&f->body, data, len) == SL_OK)
        return 0;
    char why[sizeof(f->slot->error)];
    snprintf(why, sizeof(why), "the token endpoint %s answered more than %u bytes",
             f->slot->cred.token_url, MAX_RESPONSE_BYTES);
    finish(f, NULL, 0, 0, why);
    return -1;
}

static void on_done(void *ud, enum sl_upstream_error err, const char *detail)
{
    struct fetch *f = ud;
    char why[sizeof(f->slot->error)];
    char *token = NULL;
    size_t len = 0;
    uint64_t lifetime = 0;
    if (err != SL_UPSTREAM_OK)
        snprintf(why, sizeof(why), "the token endpoint %s is unreachable: %s",
                 f->slot->cred.token_url, detail != NULL ? detail : sl_upstream_error_name(err));
    else if (f->status != 200)
        describe_error(f, why, sizeof(why));
    else
        parse_token(f, &token, &len, &lifetime, why, sizeof(why));
    finish(f, token, len, lifetime, why);
}

static const struct sl_upstream_cbs fetch_cbs = {on_head, on_body, on_done};

/* Starts the fetch on this worker (the slot is SLOT_FETCHING). */
static void start_fetch(struct slot *s, struct sl_upstreams *u)
{
    struct fetch *f = sl_xcalloc(1, sizeof(*f));
    struct sl_upstream_opts opts = {.deadline_ms = FETCH_DEADLINE_MS,
                                    .request_id = SL_STRLIT("token-refresh")};
    f->slot = s;
    f->started_ms = now_ms();
    sl_buf_init(&f->request, 128 * 1024);
    sl_buf_init(&f->body, MAX_RESPONSE_BYTES);
    fetches++;
    if (build_request(&s->cred, sl_upstream_uses_forward_proxy(u, &s->cred.origin), &f->request) !=
        SL_OK) {
        char why[128];
        snprintf(why, sizeof(why), "cannot sign or build the token request");
        finish(f, NULL, 0, 0, why);
        return;
    }
    f->iov = h2o_iovec_init(f->request.ptr, f->request.len);
    sl_upstream_start(u, &s->cred.origin, &f->iov, 1, &opts, &fetch_cbs, f);
}

/* ---- the entry point ---- */

int sl_token_get(const struct sl_cred *cred, const char *key_name, struct sl_upstreams *u,
                 h2o_context_t *ctx, h2o_mem_pool_t *pool, struct sl_str *token, char *why,
                 size_t whylen, sl_token_done_fn *done, void *ud, struct sl_token_wait **wait)
{
    SL_ASSERT(cred->kind == SL_CRED_ENTRA || cred->kind == SL_CRED_GCP_SA);
    struct slot *s = slot_of(cred, key_name);
    uint64_t now = now_ms();
    bool fetch = false;
    int rc;
    pthread_mutex_lock(&s->mu);
    if (s->usable_until_ms != 0 && now < s->usable_until_ms) {
        char *copy = h2o_mem_alloc_pool(pool, s->token_len + 1);
        memcpy(copy, s->token, s->token_len + 1);
        *token = sl_str_init(copy, s->token_len);
        /* Refresh ahead, in the background: this request goes on with the current token. */
        fetch = now >= s->refresh_from_ms && s->state == SLOT_IDLE &&
                (s->failed_at_ms == 0 || now - s->failed_at_ms >= FAILURE_MEMO_MS);
        rc = SL_OK;
    } else if (s->state == SLOT_IDLE && s->failed_at_ms != 0 &&
               now - s->failed_at_ms < FAILURE_MEMO_MS) {
        snprintf(why, whylen, "%s", s->error);
        rc = SL_ERR;
    } else {
        struct sl_token_wait *w = sl_xcalloc(1, sizeof(*w));
        w->slot = s;
        w->rx = thread_receiver(ctx);
        w->state = WAIT_LINKED;
        w->done = done;
        w->ud = ud;
        h2o_linklist_insert(&s->waiters, &w->link);
        *wait = w;
        fetch = s->state == SLOT_IDLE;
        rc = SL_AGAIN;
    }
    if (fetch)
        s->state = SLOT_FETCHING;
    pthread_mutex_unlock(&s->mu);
    if (fetch)
        start_fetch(s, u);
    return rc;
}
