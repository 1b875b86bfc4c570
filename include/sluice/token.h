/* OAuth access tokens for provider keys whose credential is traded at a token endpoint (reference
 * 6): Azure Entra ID client credentials, and Google service accounts (an RS256 JWT, jwt.h).
 *
 * One cache per process, keyed by the credential's fingerprint (struct sl_cred.id), shared by
 * every worker: a token fetched by one worker serves all of them, and a reload that keeps the
 * credential keeps its token. A token is refreshed before it expires (from a quarter of its
 * lifetime, at most five minutes, before its expiry) while requests go on using it; only when
 * there is no usable token do requests wait. At most one fetch per credential runs at a time in
 * the process (single flight): the first worker that needs a token fetches it on its own loop
 * with its upstream client, and requests that need it meanwhile, on any worker, wait for it. A
 * waiter is woken on its own worker's loop by an h2o message, so nothing ever blocks a loop and
 * no worker touches another's objects. A failed fetch is reported to every waiter and remembered
 * for a second, so a broken endpoint sees at most one attempt per second per credential.
 *
 * Callers: worker threads (the loop of the h2o context they pass). */
#ifndef SLUICE_TOKEN_H
#define SLUICE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/h2o.h"
#include "sluice/resources.h"
#include "sluice/str.h"

struct sl_upstreams;
struct sl_token_wait;

/* The outcome of a wait: rc 0 with token (valid during the call only), or SL_ERR with why (the
 * token endpoint's error, or why it could not be reached). */
typedef void sl_token_done_fn(void *ud, int rc, struct sl_str token, const char *why);

/* The access token for cred (kind SL_CRED_ENTRA or SL_CRED_GCP_SA); key_name names the provider
 * key in log lines. Returns
 *   0        a usable token is cached: *token is a copy in pool (a refresh may start in the
 *            background on this worker);
 *   SL_AGAIN none is: done(ud, ...) will run later on this worker's loop, unless
 *            sl_token_cancel(*wait) is called first;
 *   SL_ERR   the last fetch failed less than a second ago: why says how.
 * u and ctx are this worker's upstream client and h2o context. */
int sl_token_get(const struct sl_cred *cred, const char *key_name, struct sl_upstreams *u,
                 h2o_context_t *ctx, h2o_mem_pool_t *pool, struct sl_str *token, char *why,
                 size_t whylen, sl_token_done_fn *done, void *ud, struct sl_token_wait **wait);

/* Gives up a wait (its request is going away); done will not be called. Same thread. */
void sl_token_cancel(struct sl_token_wait *w);

/* Fetches started by this process so far (for tests and the metrics page). Any thread. */
uint64_t sl_token_fetches(void);

#endif
