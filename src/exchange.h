/* One operation from request to result: the policy of the SDK, written
 * once and driven by every way of sending (a single call, sk:parallel,
 * nginx): when a token is needed, what is retried and after how long,
 * what a 401 does, which hooks run, and how a response becomes
 * `value | nil, err`. The drivers only move bytes. */
#ifndef SK_EXCHANGE_H
#define SK_EXCHANGE_H

#include "error.h"
#include "request.h"

typedef enum sk_step {
  SK_STEP_SEND,  /* send the transfer's request, then call sk_exchange_received */
  SK_STEP_TOKEN, /* the client needs an access token first */
  SK_STEP_WAIT,  /* call sk_exchange_next again after the returned wait */
  SK_STEP_DONE   /* final: sk_exchange_push_result */
} sk_step;

/* Why an attempt failed, before it becomes an error object. */
typedef struct sk_failure {
  const char *kind; /* NULL: it did not fail */
  int retryable;    /* the caller may safely try again later */
  int retry_now;    /* the retry policy retries it automatically */
} sk_failure;

/* One attempt on the wire: what libcurl reads and writes. */
typedef struct sk_transfer {
  sk_http_request http;
  sk_http_response res;
  sk_transport_config cfg;
  sk_buf authorization;
  double started;
} sk_transfer;

typedef struct sk_exchange {
  sk_request req;
  double timeout;    /* this call's total timeout in seconds; 0: the client's */
  int want_response; /* push_result adds {status, request_id, max_age} */
  int attempts;
  int refreshed;             /* had its one fresh token after a 401 */
  unsigned token_generation; /* of the token the last attempt carried */
  unsigned granted;          /* token generation fetched for it: usable once even
                                when its lifetime is 0 ("use once") */
  int state;
  double wake_at;            /* monotonic time of the next attempt */
  sk_failure failure;        /* when done: kind NULL = success */
  const char *abort_message; /* ended without a response of its own */
} sk_exchange;

void sk_transfer_init(sk_transfer *t);
void sk_transfer_free(sk_transfer *t);
void sk_exchange_init(sk_exchange *x);
void sk_exchange_free(sk_exchange *x);

/* What the exchange needs now (client at client_idx). On SEND, t holds
 * the request (on_request has run); on WAIT, *wait is the seconds left. */
sk_step sk_exchange_next(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t,
                         double *wait);
/* The transfer ended (t->res filled by the transport): on_response, the
 * debug line, the retry policy; the token op stores the client's token. */
void sk_exchange_received(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t);
/* The token it waited for has arrived (any lifetime): use it. */
void sk_exchange_grant(sk_exchange *x, const sk_client *c);
/* Ends x with an error of this kind (e.g. "closed") instead of a response. */
void sk_exchange_abort(sk_exchange *x, const char *kind, const char *message);
/* When done: pushes the result and returns 1, or pushes the error object
 * and returns 0. With want_response, a success pushes the response
 * table after the result (the caller knows from x->want_response). */
int sk_exchange_push_result(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t);
int sk_exchange_done(const sk_exchange *x);

#endif
