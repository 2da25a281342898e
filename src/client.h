/* The client: configuration, the cached access token, the secrets to mask
 * and the transfer handles it lends to batches. */
#ifndef SK_CLIENT_H
#define SK_CLIENT_H

#include "mask.h"
#include "transport.h"

typedef struct sk_client {
  sk_transport_config transport;
  char *base_url; /* environment URL without a trailing slash */
  char *client_id;
  char *client_secret;
  char *user_agent;
  char *ca_file;
  char *proxy;
  char *token;               /* cached access token, or NULL */
  double token_expires;      /* monotonic seconds after which it is refreshed */
  unsigned token_generation; /* counts tokens: who holds an old one */
  sk_mask secrets;           /* client_secret and token, every encoding */
  int max_retries;
  double retry_base_delay; /* seconds */
  double retry_max_delay;
  double max_retry_wait; /* cap on a server's Retry-After */
  int debug;             /* one line per request (see exchange.c) */
  int hooks;             /* SK_HOOK_* bits: which hooks the user value holds */
  CURLM *multi;          /* lent to one batch at a time: its connection pool */
  CURL **pool;           /* easy handles of multi */
  int pool_size;
  int pool_lent;          /* a batch holds multi and pool */
  int busy;               /* batches running; release waits for the last */
  unsigned long long rng; /* backoff jitter */
  int closed;             /* no new calls; released once not busy */
} sk_client;

/* User value slots of a client (a table anchored by the userdata). */
#define SK_UV_DECODER     "decoder"
#define SK_UV_RESOURCES   "resources"
#define SK_UV_ON_REQUEST  "on_request"
#define SK_UV_ON_RESPONSE "on_response"
#define SK_UV_DEBUG       "debug" /* function(line) receiving debug lines */

/* Bits of sk_client.hooks: a call without hooks never looks them up. */
#define SK_HOOK_ON_REQUEST  1
#define SK_HOOK_ON_RESPONSE 2

/* core.new(config) -> client (config validated by scalekit.lua). */
int sk_client_new(lua_State *L);
/* The open client at idx, or raises naming `who`. */
sk_client *sk_client_check(lua_State *L, int idx, const char *who);
/* Marks the client closed; frees everything now, or when the last batch
 * running on it ends (a hook may close the client it observes). */
void sk_client_close(sk_client *c);
/* A batch starts / ends using the client. */
void sk_client_enter(sk_client *c);
void sk_client_leave(sk_client *c);
/* Lends multi and n easy handles to a batch: 0, or -1 when they are lent
 * already (the batch makes its own), or -2 when out of memory. */
int sk_client_lend_pool(sk_client *c, int n);
void sk_client_return_pool(sk_client *c);

/* 1 when the cached token can be sent. */
int sk_client_token_valid(const sk_client *c);
/* Caches token for ttl seconds (refreshed a little before); 0, or -1
 * when out of memory. supplied: ttl is used as given (nginx hands in a
 * token with its remaining time). */
int sk_client_store_token(sk_client *c, const char *token, double ttl, int supplied);
void sk_client_forget_token(sk_client *c);
/* A uniform number in [0, 1) for backoff jitter. */
double sk_client_random(sk_client *c);

#endif
