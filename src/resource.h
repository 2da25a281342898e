/* Resource userdata (sk.organizations, sk.users, ...) and their methods. */
#ifndef SK_RESOURCE_H
#define SK_RESOURCE_H

#include "util.h"

void sk_resource_register(lua_State *L);
/* Pushes the resource `name` of the client at client_idx (created on
 * first use and kept in the client's user value), or nil. */
void sk_resource_push(lua_State *L, int client_idx, const char *name);
/* core.prepare(resource, method, args...) -> client, operationId, params,
 * kind ("call", "each" or "pages"). */
int sk_resource_prepare(lua_State *L);
/* core.method_tables() -> {resource = {name = function}}: the live tables
 * the resources' __index reads (nginx wraps entries in place). */
void sk_resource_push_methods(lua_State *L);

#endif
