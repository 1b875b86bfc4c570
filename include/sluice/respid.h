/* Sealed response ids: how a stored OpenAI response created through Sluice is found again by
 * any replica, with no state kept in Sluice (docs/responses.md, "Response ids").
 *
 * The id a caller sees is "resp_" + base64url (no padding) of
 *
 *     version (1) | tag (8) | alias length (2) | alias | upstream id length (2) | upstream id
 *     | MAC (16)
 *
 * tag = the first 8 bytes of SHA-256("sluice-respid-key" NUL provider key name): which provider
 * key created the response, without showing its name. MAC = the first 16 bytes of
 * HMAC-SHA256(K, "sluice-respid-v1" NUL | len caller | caller | len key name | key name | the
 * bytes before the MAC), lengths as 2 big-endian bytes, where K = HMAC-SHA256(secret,
 * "sluice responses id key v1") and secret is the deployment's responses.id_secrets entry (the
 * first seals, every one opens) or, when the deployment sets none, the provider key's api_key.
 * So an id names the provider key, the model alias and the upstream's own id; it opens only
 * for the caller key (by display_name) it was created for; changing any byte of it, or
 * presenting it with another caller key, fails the MAC.
 *
 * Pure: no I/O, no allocation. Keys derived from a secret are kept in
 * a small per-thread memo (the derivation costs more than the MAC), and so are the tags of the
 * last provider key names (a SHA-256 block each). Any thread. */
#ifndef SLUICE_RESPID_H
#define SLUICE_RESPID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

/* The longest alias and upstream id an id carries. */
#define SL_RESPID_MAX_PART 512
#define SL_RESPID_TAG_LEN  8
#define SL_RESPID_MAC_LEN  16
/* Decoded bytes of the longest id, and its text ("resp_" + base64url). */
#define SL_RESPID_MAX_RAW  (1 + SL_RESPID_TAG_LEN + 2 * (2 + SL_RESPID_MAX_PART) + SL_RESPID_MAC_LEN)
#define SL_RESPID_MAX_TEXT (5 + (SL_RESPID_MAX_RAW * 4 + 2) / 3)

/* What an id binds. */
struct sl_respid_claims {
    struct sl_str provider_key; /* display_name of the provider key that created the response */
    struct sl_str caller;       /* display_name of the caller key it was created with */
    struct sl_str alias;        /* the model alias the caller sent */
};

/* Writes the sealed id of upstream_id (text, no quotes; at most SL_RESPID_MAX_TEXT bytes) to
 * out and its length to *len. Returns 0, or SL_EPARSE when secret is empty or the alias or
 * upstream_id is longer than SL_RESPID_MAX_PART (nothing is written then). */
int sl_respid_seal(struct sl_str secret, const struct sl_respid_claims *c,
                   struct sl_str upstream_id, char out[SL_RESPID_MAX_TEXT], size_t *len);

/* An id decoded, not verified yet. */
struct sl_respid {
    uint8_t tag[SL_RESPID_TAG_LEN];
    struct sl_str alias;       /* into _raw */
    struct sl_str upstream_id; /* into _raw */
    /* private */
    uint8_t _raw[SL_RESPID_MAX_RAW];
    size_t _len;
};

/* Decodes id as a caller presented it. Returns 0, or SL_EPARSE when it is not a sealed id
 * (wrong prefix, length, encoding or version; an upstream's own id, for one). */
int sl_respid_parse(struct sl_str id, struct sl_respid *out);

/* True when the id's tag is that of the provider key called name: the key to verify with (a
 * tag is a hint; only the MAC proves anything). */
bool sl_respid_names_key(const struct sl_respid *id, struct sl_str name);

/* True when the id's MAC is right for secret and these names. Constant time in the MAC. */
bool sl_respid_verify(const struct sl_respid *id, struct sl_str secret, struct sl_str provider_key,
                      struct sl_str caller);

#endif
