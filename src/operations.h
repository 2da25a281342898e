/* The Scalekit API as data. src/operations.c is generated from api/ by
 * scripts/generate.lua (make generate); this header is its contract. */
#ifndef SK_OPERATIONS_H
#define SK_OPERATIONS_H

#include <stddef.h>

typedef enum sk_param_in { SK_IN_PATH, SK_IN_QUERY, SK_IN_BODY } sk_param_in;

typedef enum sk_param_type {
  SK_T_STRING,
  SK_T_INTEGER, /* exact integers; range from sk_param.format */
  SK_T_NUMBER,
  SK_T_BOOLEAN,
  SK_T_OBJECT,
  SK_T_ARRAY
} sk_param_type;

/* Integer ranges the service takes (OpenAPI format). */
typedef enum sk_param_format {
  SK_F_NONE,   /* no integer: or any integer exact in a double (+-2^53) */
  SK_F_INT32,  /* -2^31 .. 2^31-1 */
  SK_F_UINT32, /* 0 .. 2^32-1 */
  SK_F_INT64   /* any integer; as a JSON number only within +-2^53 */
} sk_param_format;

typedef struct sk_param {
  const char *name;     /* key in the caller's flat params table */
  const char *wire;     /* key on the wire (query name or body property) */
  const char *parent;   /* body only: the body object it nests in, or NULL */
  const char *fallback; /* string value sent when the caller gives none */
  unsigned char in;     /* sk_param_in */
  unsigned char type;   /* sk_param_type */
  unsigned char items;  /* arrays: sk_param_type of the elements */
  unsigned char format; /* sk_param_format */
  unsigned char required;
} sk_param;

typedef enum sk_body_kind { SK_BODY_NONE, SK_BODY_JSON, SK_BODY_FORM } sk_body_kind;

typedef enum sk_paging {
  SK_PAGING_NONE,
  SK_PAGING_TOKEN, /* page_token in, next_page_token out */
  SK_PAGING_NUMBER /* page_number in (1-based), stops on a short page */
} sk_paging;

/* Row flags: properties of an operation, never comparisons of its name. */
#define SK_OP_NO_TOKEN      0x01 /* sent without a bearer token */
#define SK_OP_IDEMPOTENT    0x02 /* safe to resend after an ambiguous failure */
#define SK_OP_SECRET_RESULT 0x04 /* the success body carries secrets: never shown */
#define SK_OP_RETURNS_TRUE  0x08 /* deletes and removes: true on any 2xx */
#define SK_OP_TOKEN         0x10 /* issues the client's access token */
#define SK_OP_AUTH_FAILURES 0x20 /* 4xx (not 429) are "auth" errors */
#define SK_OP_CLIENT_AUTH   0x40 /* client_id, client_secret default to the client's */

typedef struct sk_operation {
  const char *id; /* published operationId */
  const char *method;
  const char *path;       /* template; custom verbs kept: /api/v1/users:search */
  const sk_param *params; /* terminated by a NULL name */
  unsigned char body;     /* sk_body_kind */
  unsigned char paging;   /* sk_paging */
  unsigned flags;         /* SK_OP_* */
  const char *unwrap;     /* result = body[unwrap] when that is a table */
  const char *items;      /* list key of a paged response, or NULL */
} sk_operation;

/* Another name for an operation: the first document's operationIds. */
typedef struct sk_operation_alias {
  const char *alias;
  const char *id;
} sk_operation_alias;

typedef enum sk_method_kind { SK_CALL, SK_EACH, SK_PAGES } sk_method_kind;

/* A resource method: sk.<resource>:<name>(positional..., [fields]). */
typedef struct sk_method {
  const char *resource;
  const char *name;
  const char *operation;  /* operationId */
  const char *positional; /* comma-separated param names taken positionally;
                             NULL: the path parameters in template order */
  unsigned char kind;     /* sk_method_kind */
} sk_method;

/* Sorted by id / alias / (resource, name), for binary search. */
extern const sk_operation sk_operations[];
extern const size_t sk_operation_count;
extern const sk_operation_alias sk_operation_aliases[];
extern const size_t sk_operation_alias_count;
extern const sk_method sk_methods[];
extern const size_t sk_method_count;

#endif
