/* The libcurl driver of exchanges: a batch userdata owns every request,
 * transfer and handle of one sk:call, sk:token or sk:parallel, so a Lua
 * error in the middle (a hook, out of memory) leaves nothing behind. */
#ifndef SK_BATCH_H
#define SK_BATCH_H

#include "exchange.h"

typedef struct sk_batch sk_batch;

void sk_batch_register(lua_State *L);
/* Pushes a new batch of n exchanges for the client at client_idx, sent at
 * most `concurrency` at a time; single: one call, read with
 * sk_batch_push_outcome (no result tables). */
sk_batch *sk_batch_new(lua_State *L, int client_idx, int n, int concurrency, int single);
/* Exchange i (0-based) of the batch, to build before running. */
sk_exchange *sk_batch_exchange(sk_batch *b, int i);
/* Runs the batch at batch_idx to the end and frees what it holds; its
 * results are then in sk_batch_push_results. Re-raises a Lua error after
 * cleaning up. */
void sk_batch_run(lua_State *L, int batch_idx);
/* Pushes values, errors: for each i, exactly one of values[i+1] and
 * errors[i+1] is set; responses[i+1] for exchanges that want_response. */
void sk_batch_push_results(lua_State *L, int batch_idx);
/* A single call's outcome: pushes `value [, response]` or `nil, err`
 * and returns the count. */
int sk_batch_push_outcome(lua_State *L, int batch_idx, int want_response);
/* Runs only the client's token request (sk:token): 0, or pushes the
 * error object and returns -1. */
int sk_batch_fetch_token(lua_State *L, int client_idx);

#endif
