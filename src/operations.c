/* The Scalekit API as data: one row per operation (api/scalekit-openapi.yaml)
 * and one row per resource method. Adding an endpoint is adding rows. */
#include <string.h>
#include "scalekit.h"

#define PATH(n) {n, SK_IN_PATH, SK_T_STRING, 1}
#define QUERY(n, t) {n, SK_IN_QUERY, t, 0}
#define BODY(n, t) {n, SK_IN_BODY, t, 0}
#define BODY_REQUIRED(n, t) {n, SK_IN_BODY, t, 1}
#define END {NULL, 0, 0, 0}

#define PAGING QUERY("page_size", SK_T_INTEGER), QUERY("page_token", SK_T_STRING)

static const sk_param p_token[] = {
    BODY_REQUIRED("grant_type", SK_T_STRING),
    BODY_REQUIRED("client_id", SK_T_STRING),
    BODY_REQUIRED("client_secret", SK_T_STRING), END};
static const sk_param p_paging[] = {PAGING, END};
static const sk_param p_org_create[] = {
    BODY_REQUIRED("display_name", SK_T_STRING), BODY("external_id", SK_T_STRING),
    BODY("metadata", SK_T_OBJECT), END};
static const sk_param p_org_id[] = {PATH("id"), END};
static const sk_param p_org_update[] = {
    PATH("id"), BODY("display_name", SK_T_STRING), BODY("external_id", SK_T_STRING),
    BODY("metadata", SK_T_OBJECT), END};
static const sk_param p_org_settings[] = {PATH("id"), BODY("features", SK_T_ARRAY), END};
static const sk_param p_connections[] = {
    PAGING, QUERY("organization_id", SK_T_STRING), END};
static const sk_param p_organization_id[] = {PATH("organization_id"), END};
static const sk_param p_connection[] = {PATH("organization_id"), PATH("id"), END};
static const sk_param p_directory[] = {
    PATH("organization_id"), PATH("directory_id"), END};
static const sk_param p_directory_list[] = {
    PATH("organization_id"), PATH("directory_id"), PAGING, END};
static const sk_param p_membership[] = {
    PATH("organization_id"), PATH("id"), BODY("roles", SK_T_ARRAY),
    BODY("metadata", SK_T_OBJECT), END};
static const sk_param p_member[] = {PATH("organization_id"), PATH("id"), END};
static const sk_param p_roles[] = {PATH("org_id"), END};
static const sk_param p_role_create[] = {
    PATH("org_id"), BODY_REQUIRED("name", SK_T_STRING),
    BODY("display_name", SK_T_STRING), BODY("description", SK_T_STRING),
    BODY("permissions", SK_T_ARRAY), END};
static const sk_param p_account[] = {
    BODY_REQUIRED("connector", SK_T_STRING), BODY_REQUIRED("identifier", SK_T_STRING),
    BODY("authorization_details", SK_T_OBJECT), END};
static const sk_param p_magic_link[] = {
    BODY_REQUIRED("connector", SK_T_STRING), BODY_REQUIRED("identifier", SK_T_STRING),
    END};
static const sk_param p_execute_tool[] = {
    BODY_REQUIRED("tool_name", SK_T_STRING), BODY_REQUIRED("identifier", SK_T_STRING),
    BODY("connection_name", SK_T_STRING), BODY("tool_input", SK_T_OBJECT), END};

#define J SK_BODY_JSON
#define N SK_BODY_NONE

const sk_operation sk_operations[] = {
    /* id, method, path, params, body, unwrap, items */
    {"createToken", "POST", "/oauth/token", p_token, SK_BODY_FORM, NULL, NULL},
    {"listOrganizations", "GET", "/api/v1/organizations", p_paging, N, NULL, "organizations"},
    {"createOrganization", "POST", "/api/v1/organizations", p_org_create, J, "organization", NULL},
    {"getOrganization", "GET", "/api/v1/organizations/{id}", p_org_id, N, "organization", NULL},
    {"updateOrganization", "PATCH", "/api/v1/organizations/{id}", p_org_update, J, "organization", NULL},
    {"deleteOrganization", "DELETE", "/api/v1/organizations/{id}", p_org_id, N, NULL, NULL},
    {"updateOrganizationSettings", "PATCH", "/api/v1/organizations/{id}/settings", p_org_settings, J, "organization", NULL},
    {"createPortalLink", "PUT", "/api/v1/organizations/{id}/portal_links", p_org_id, N, "link", NULL},
    {"listConnections", "GET", "/api/v1/connections", p_connections, N, NULL, "connections"},
    {"listOrganizationConnections", "GET", "/api/v1/organizations/{organization_id}/connections", p_organization_id, N, NULL, NULL},
    {"getConnection", "GET", "/api/v1/organizations/{organization_id}/connections/{id}", p_connection, N, NULL, NULL},
    {"listDirectories", "GET", "/api/v1/organizations/{organization_id}/directories", p_organization_id, N, NULL, NULL},
    {"getDirectory", "GET", "/api/v1/organizations/{organization_id}/directories/{directory_id}", p_directory, N, NULL, NULL},
    {"listDirectoryUsers", "GET", "/api/v1/organizations/{organization_id}/directories/{directory_id}/users", p_directory_list, N, NULL, "users"},
    {"listDirectoryGroups", "GET", "/api/v1/organizations/{organization_id}/directories/{directory_id}/groups", p_directory_list, N, NULL, "groups"},
    {"addMembership", "POST", "/api/v1/memberships/organizations/{organization_id}/users/{id}", p_membership, J, NULL, NULL},
    {"updateMembership", "PATCH", "/api/v1/memberships/organizations/{organization_id}/users/{id}", p_membership, J, NULL, NULL},
    {"removeMembership", "DELETE", "/api/v1/memberships/organizations/{organization_id}/users/{id}", p_member, N, NULL, NULL},
    {"resendInvite", "PATCH", "/api/v1/invites/organizations/{organization_id}/users/{id}/resend", p_member, N, NULL, NULL},
    {"listRoles", "GET", "/api/v1/organizations/{org_id}/roles", p_roles, N, NULL, NULL},
    {"createRole", "POST", "/api/v1/organizations/{org_id}/roles", p_role_create, J, NULL, NULL},
    {"listConnectedAccounts", "GET", "/api/v1/connected_accounts", p_paging, N, NULL, "connected_accounts"},
    {"createConnectedAccount", "POST", "/api/v1/connected_accounts", p_account, J, NULL, NULL},
    {"updateConnectedAccountCredentials", "PUT", "/api/v1/connected_accounts", p_account, J, NULL, NULL},
    {"createConnectedAccountMagicLink", "POST", "/api/v1/connected_accounts/magic_link", p_magic_link, J, NULL, NULL},
    {"executeTool", "POST", "/api/v1/execute_tool", p_execute_tool, J, NULL, NULL},
};
const size_t sk_operation_count = sizeof sk_operations / sizeof sk_operations[0];

const sk_method sk_methods[] = {
    /* resource, method, operationId, kind */
    {"organizations", "list", "listOrganizations", SK_CALL},
    {"organizations", "each", "listOrganizations", SK_EACH},
    {"organizations", "pages", "listOrganizations", SK_PAGES},
    {"organizations", "create", "createOrganization", SK_CALL},
    {"organizations", "get", "getOrganization", SK_CALL},
    {"organizations", "update", "updateOrganization", SK_CALL},
    {"organizations", "delete", "deleteOrganization", SK_CALL},
    {"organizations", "update_settings", "updateOrganizationSettings", SK_CALL},
    {"organizations", "portal_link", "createPortalLink", SK_CALL},
    {"connections", "list", "listConnections", SK_CALL},
    {"connections", "each", "listConnections", SK_EACH},
    {"connections", "pages", "listConnections", SK_PAGES},
    {"connections", "list_by_organization", "listOrganizationConnections", SK_CALL},
    {"connections", "get", "getConnection", SK_CALL},
    {"directories", "list", "listDirectories", SK_CALL},
    {"directories", "get", "getDirectory", SK_CALL},
    {"directories", "list_users", "listDirectoryUsers", SK_CALL},
    {"directories", "each_user", "listDirectoryUsers", SK_EACH},
    {"directories", "user_pages", "listDirectoryUsers", SK_PAGES},
    {"directories", "list_groups", "listDirectoryGroups", SK_CALL},
    {"directories", "each_group", "listDirectoryGroups", SK_EACH},
    {"directories", "group_pages", "listDirectoryGroups", SK_PAGES},
    {"memberships", "add", "addMembership", SK_CALL},
    {"memberships", "update", "updateMembership", SK_CALL},
    {"memberships", "remove", "removeMembership", SK_CALL},
    {"memberships", "resend_invite", "resendInvite", SK_CALL},
    {"roles", "list", "listRoles", SK_CALL},
    {"roles", "create", "createRole", SK_CALL},
    {"connected_accounts", "list", "listConnectedAccounts", SK_CALL},
    {"connected_accounts", "each", "listConnectedAccounts", SK_EACH},
    {"connected_accounts", "pages", "listConnectedAccounts", SK_PAGES},
    {"connected_accounts", "create", "createConnectedAccount", SK_CALL},
    {"connected_accounts", "update_credentials", "updateConnectedAccountCredentials", SK_CALL},
    {"connected_accounts", "magic_link", "createConnectedAccountMagicLink", SK_CALL},
    {"tools", "execute", "executeTool", SK_CALL},
};
const size_t sk_method_count = sizeof sk_methods / sizeof sk_methods[0];

const sk_operation *sk_operation_find(const char *id) {
  size_t i;
  for (i = 0; i < sk_operation_count; i++)
    if (strcmp(sk_operations[i].id, id) == 0) return &sk_operations[i];
  return NULL;
}

const sk_param *sk_operation_param(const sk_operation *op, const char *name) {
  const sk_param *p;
  for (p = op->params; p->name; p++)
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

int sk_operation_path_count(const sk_operation *op) {
  const sk_param *p;
  int n = 0;
  for (p = op->params; p->name; p++)
    if (p->in == SK_IN_PATH) n++;
  return n;
}

/* Path parameters are listed in template order in every row above. */
const sk_param *sk_operation_path_param(const sk_operation *op, int i) {
  const sk_param *p;
  for (p = op->params; p->name; p++)
    if (p->in == SK_IN_PATH && i-- == 0) return p;
  return NULL;
}
