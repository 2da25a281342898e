-- The only hand-kept input of scripts/generate.lua (make generate): what the
-- two documents cannot say. Everything else (paths, parameters, types,
-- required fields, wrappers, paging, most flags) is read from
-- api/scalekit-public-openapi.json (the live service) and
-- api/scalekit-openapi.json (the first document, "the sketch").
-- api/README.md explains each exception below with its evidence.
return {
  -- Every published operationId -> "resource:method". Paged operations get
  -- iterators named by the rule in scripts/generate.lua (list -> each/pages,
  -- list_x -> each_x/pages_x, m -> each_m/pages_m) unless `iterators` says.
  methods = {
    AuditLogsService_ListAuthRequests = "auth_logs:list",

    ClientService_CreateOrganizationClient = "clients:create",
    ClientService_CreateOrganizationClientSecret = "clients:create_secret",
    ClientService_DeleteOrganizationClient = "clients:delete",
    ClientService_DeleteOrganizationClientSecret = "clients:delete_secret",
    ClientService_GetOrganizationClient = "clients:get",
    ClientService_ListOrganizationClients = "clients:list",
    ClientService_UpdateOrganizationClient = "clients:update",

    ConnectedAccountService_CreateConnectedAccount = "connected_accounts:create",
    ConnectedAccountService_DeleteConnectedAccount = "connected_accounts:delete",
    ConnectedAccountService_GetConnectedAccountAuth = "connected_accounts:get_auth",
    ConnectedAccountService_GetConnectedAccountDetails = "connected_accounts:get",
    ConnectedAccountService_GetMagicLinkForConnectedAccount = "connected_accounts:magic_link",
    ConnectedAccountService_ListConnectedAccounts = "connected_accounts:list",
    ConnectedAccountService_SearchConnectedAccounts = "connected_accounts:search",
    ConnectedAccountService_UpdateConnectedAccount = "connected_accounts:update",
    ConnectedAccountService_VerifyConnectedAccountUser = "connected_accounts:verify_user",

    ConnectionService_DeleteConnection = "connections:delete",
    ConnectionService_DisableConnection = "connections:disable",
    ConnectionService_EnableConnection = "connections:enable",
    ConnectionService_GetConnection = "connections:get",
    ConnectionService_ListConnections = "connections:list",

    DirectoryService_DisableDirectory = "directories:disable",
    DirectoryService_EnableDirectory = "directories:enable",
    DirectoryService_GetDirectory = "directories:get",
    DirectoryService_ListDirectories = "directories:list",
    DirectoryService_ListDirectoryGroups = "directories:list_groups",
    DirectoryService_ListDirectoryUsers = "directories:list_users",

    DomainService_CreateDomain = "domains:create",
    DomainService_DeleteDomain = "domains:delete",
    DomainService_GetDomain = "domains:get",
    DomainService_ListDomains = "domains:list",

    McpService_CreateMcpConfig = "mcp_configs:create",
    McpService_CreateMcpSessionToken = "mcp_configs:create_session_token",
    McpService_DeleteMcpConfig = "mcp_configs:delete",
    McpService_GetMcpConfig = "mcp_configs:get",
    McpService_ListMcpConfigs = "mcp_configs:list",
    McpService_ListMcpConnectedAccounts = "mcp_configs:list_connected_accounts",
    McpService_UpdateMcpConfig = "mcp_configs:update",

    OrganizationService_CreateOrganization = "organizations:create",
    OrganizationService_DeleteOrganization = "organizations:delete",
    OrganizationService_GeneratePortalLink = "organizations:portal_link",
    OrganizationService_GetOrganization = "organizations:get",
    OrganizationService_GetOrganizationByExternalId = "organizations:get_by_external_id",
    OrganizationService_GetOrganizationSessionPolicy = "organizations:get_session_policy",
    OrganizationService_ListOrganization = "organizations:list",
    OrganizationService_UpdateOrganization = "organizations:update",
    OrganizationService_UpdateOrganizationSessionPolicy = "organizations:update_session_policy",
    OrganizationService_UpdateOrganizationSettings = "organizations:update_settings",
    OrganizationService_UpsertUserManagementSettings =
      "organizations:update_user_management_settings",

    PasswordlessService_ResendPasswordlessEmail = "passwordless:resend",
    PasswordlessService_SendPasswordlessEmail = "passwordless:send",
    PasswordlessService_VerifyPasswordlessEmail = "passwordless:verify",

    ProviderService_CreateCustomProvider = "custom_providers:create",
    ProviderService_DeleteCustomProvider = "custom_providers:delete",
    ProviderService_UpdateCustomProvider = "custom_providers:update",

    -- Environment roles. roles:list and roles:create keep the first
    -- document's meaning (organization roles, see extra_methods), so the
    -- environment's own list and create carry a suffix.
    RolesService_AddPermissionsToRole = "roles:add_permissions",
    RolesService_CreateOrganizationRole = "roles:create_for_organization",
    RolesService_CreatePermission = "permissions:create",
    RolesService_CreateRole = "roles:create_environment",
    RolesService_DeleteOrganizationRole = "roles:delete_for_organization",
    RolesService_DeletePermission = "permissions:delete",
    RolesService_DeleteRole = "roles:delete",
    RolesService_GetOrganizationRole = "roles:get_for_organization",
    RolesService_GetPermission = "permissions:get",
    RolesService_GetRole = "roles:get",
    RolesService_GetRoleUsersCount = "roles:count_users",
    RolesService_ListDependentRoles = "roles:list_dependents",
    RolesService_ListEffectiveRolePermissions = "roles:list_effective_permissions",
    RolesService_ListOrganizationRoles = "roles:list_for_organization",
    RolesService_ListPermissions = "permissions:list",
    RolesService_ListRolePermissions = "roles:list_permissions",
    RolesService_ListRoles = "roles:list_environment",
    RolesService_RemovePermissionFromRole = "roles:remove_permission",
    RolesService_UpdateDefaultOrganizationRoles = "roles:set_defaults_for_organization",
    RolesService_UpdateDefaultRoles = "roles:set_defaults",
    RolesService_UpdateDefaultRoles2 = "roles:update_defaults",
    RolesService_UpdateOrganizationRole = "roles:update_for_organization",
    RolesService_UpdatePermission = "permissions:update",
    RolesService_UpdateRole = "roles:update",

    SessionService_GetSession = "sessions:get",
    SessionService_GetUserSessions = "sessions:list_for_user",
    SessionService_RevokeAllUserSessions = "sessions:revoke_all_for_user",
    SessionService_RevokeSession = "sessions:revoke",

    ToolService_ExecuteTool = "tools:execute",
    ToolService_ListAvailableTools = "tools:list_available",
    ToolService_ListScopedTools = "tools:list_scoped",
    ToolService_ListTools = "tools:list",

    UserService_CreateMembership = "memberships:add",
    UserService_CreateMembership2 = "memberships:add_by_external_id",
    UserService_CreateUserAndMembership = "users:create",
    UserService_DeleteMembership = "memberships:remove",
    UserService_DeleteMembership2 = "memberships:remove_by_external_id",
    UserService_DeleteUser = "users:delete",
    UserService_DeleteUser2 = "users:delete_by_external_id",
    UserService_GetUser = "users:get",
    UserService_GetUser2 = "users:get_by_external_id",
    UserService_ListOrganizationUsers = "users:list_for_organization",
    UserService_ListUserPermissions = "users:list_permissions",
    UserService_ListUserRoles = "users:list_roles",
    UserService_ListUsers = "users:list",
    UserService_ResendInvite = "memberships:resend_invite",
    UserService_SearchOrganizationUsers = "users:search_for_organization",
    UserService_SearchUsers = "users:search",
    UserService_UpdateMembership = "memberships:update",
    UserService_UpdateMembership2 = "memberships:update_by_external_id",
    UserService_UpdateUser = "users:update",
    UserService_UpdateUser2 = "users:update_by_external_id",

    WebAuthnService_DeleteCredential = "passkeys:delete",
    WebAuthnService_ListCredentials = "passkeys:list",
    WebAuthnService_UpdateCredential = "passkeys:update",
  },

  -- Iterator names that do not follow the rule: the first document's.
  -- ListConnections does not page (the service answers every connection
  -- at once); its iterators walk that one answer, as they did before.
  iterators = {
    ConnectionService_ListConnections = { each = "each", pages = "pages" },
    DirectoryService_ListDirectoryGroups = { each = "each_group", pages = "group_pages" },
    DirectoryService_ListDirectoryUsers = { each = "each_user", pages = "user_pages" },
  },

  -- More names for an operation: the first document's methods where the
  -- live name differs. positional: the params taken positionally (default:
  -- the path parameters in template order).
  extra_methods = {
    { method = "connected_accounts:update_credentials",
      operation = "ConnectedAccountService_UpdateConnectedAccount" },
    { method = "connections:list_by_organization", operation = "ConnectionService_ListConnections",
      positional = "organization_id" },
    { method = "roles:create", operation = "RolesService_CreateOrganizationRole" },
    { method = "roles:list", operation = "RolesService_ListOrganizationRoles" },
  },

  -- The first document's operationIds -> the live operation that does the
  -- same (createToken is not in the live document: see extra_operations).
  aliases = {
    addMembership = "UserService_CreateMembership",
    createConnectedAccount = "ConnectedAccountService_CreateConnectedAccount",
    createConnectedAccountMagicLink = "ConnectedAccountService_GetMagicLinkForConnectedAccount",
    createOrganization = "OrganizationService_CreateOrganization",
    createPortalLink = "OrganizationService_GeneratePortalLink",
    createRole = "RolesService_CreateOrganizationRole",
    deleteOrganization = "OrganizationService_DeleteOrganization",
    executeTool = "ToolService_ExecuteTool",
    getConnection = "ConnectionService_GetConnection",
    getDirectory = "DirectoryService_GetDirectory",
    getOrganization = "OrganizationService_GetOrganization",
    listConnectedAccounts = "ConnectedAccountService_ListConnectedAccounts",
    listConnections = "ConnectionService_ListConnections",
    listDirectories = "DirectoryService_ListDirectories",
    listDirectoryGroups = "DirectoryService_ListDirectoryGroups",
    listDirectoryUsers = "DirectoryService_ListDirectoryUsers",
    listOrganizationConnections = "ConnectionService_ListConnections",
    listOrganizations = "OrganizationService_ListOrganization",
    listRoles = "RolesService_ListOrganizationRoles",
    removeMembership = "UserService_DeleteMembership",
    resendInvite = "UserService_ResendInvite",
    updateConnectedAccountCredentials = "ConnectedAccountService_UpdateConnectedAccount",
    updateMembership = "UserService_UpdateMembership",
    updateOrganization = "OrganizationService_UpdateOrganization",
    updateOrganizationSettings = "OrganizationService_UpdateOrganizationSettings",
  },

  -- Fields of the first document the live one names differently: the old
  -- name stays accepted and is sent under the live name. Any other field
  -- the live operation lacks raises "unknown field" (never dropped).
  renamed_fields = {
    DirectoryService_GetDirectory = {
      directory_id = { to = "id", why = "the live path names the directory `{id}`" },
    },
    ToolService_ExecuteTool = {
      connection_name = { to = "connector",
        why = "the connector the connected account belongs to (e.g. \"gmail\")" },
      tool_input = { to = "params", why = "the tool's input object" },
    },
  },

  -- Body keys under which the live body nests the resource's own fields:
  -- besides the key itself (an object), each of its properties is accepted
  -- flat. Derived too: a body property named like the response wrapper
  -- (connected_account) is nested this way; this list adds the others.
  nested_bodies = {
    UserService_CreateUserAndMembership = { "membership" },
  },

  -- Flags the document cannot say (the others are derived, see
  -- scripts/generate.lua). IDEMPOTENT: repeating it changes nothing more.
  flags = {
    ConnectedAccountService_DeleteConnectedAccount = { "IDEMPOTENT" }, -- a delete sent as POST
    ConnectionService_DisableConnection = { "IDEMPOTENT" },
    ConnectionService_EnableConnection = { "IDEMPOTENT" },
    DirectoryService_DisableDirectory = { "IDEMPOTENT" },
    DirectoryService_EnableDirectory = { "IDEMPOTENT" },
    McpService_ListMcpConnectedAccounts = { "IDEMPOTENT" }, -- a read sent as POST
    SessionService_RevokeAllUserSessions = { "IDEMPOTENT" },
    SessionService_RevokeSession = { "IDEMPOTENT" },
  },

  -- Where the live document contradicts itself or the service: the service
  -- wins. Each is explained with its evidence in api/README.md.
  exceptions = {
    UserService_CreateMembership = {
      not_required = { "membership" },
      prism = "Request body must have required property 'membership'",
      what = "the request body schema says `required: [membership]`, but v1usersCreateMembership " ..
        "has no `membership` property: the service maps the whole body onto the membership",
      sdk = "sends the flat body `{roles, metadata, inviter_email}`; `membership` is not a field",
    },
    UserService_CreateMembership2 = {
      not_required = { "membership" },
      prism = "Request body must have required property 'membership'",
      what = "as UserService_CreateMembership",
      sdk = "as UserService_CreateMembership",
    },
  },

  -- Query parameters whose declared integer format is wider than the
  -- service takes (api/README.md): page_size is int64 on most list
  -- operations but int32 on ListDomains, and the service caps it at 100.
  query_formats = {
    page_size = "int32",
    page_number = "int32",
  },

  -- Operations in neither document. Same shape as a generated row.
  extra_operations = {
    createToken = {
      method = "POST", path = "/oauth/token", body = "FORM",
      flags = { "NO_TOKEN", "IDEMPOTENT", "SECRET_RESULT", "TOKEN", "AUTH_FAILURES", "CLIENT_AUTH" },
      params = {
        { name = "grant_type", type = "STRING", fallback = "client_credentials" },
        { name = "client_id", type = "STRING" },
        { name = "client_secret", type = "STRING" },
      },
      doc = "the client-credentials token (the live document's oauth2 tokenUrl); " ..
        "sk:token() uses it",
    },
    exchangeToken = {
      method = "POST", path = "/oauth/token", body = "FORM",
      flags = { "NO_TOKEN", "SECRET_RESULT", "AUTH_FAILURES", "CLIENT_AUTH" },
      params = {
        { name = "client_id", type = "STRING" },
        { name = "client_secret", type = "STRING" },
        { name = "code", type = "STRING" },
        { name = "code_verifier", type = "STRING" },
        { name = "grant_type", type = "STRING", required = true },
        { name = "redirect_uri", type = "STRING" },
        { name = "refresh_token", type = "STRING" },
        { name = "scope", type = "STRING" },
      },
      doc = "authorization_code and refresh_token grants at the same token endpoint",
    },
    getJwks = {
      method = "GET", path = "/keys",
      flags = { "NO_TOKEN", "IDEMPOTENT" },
      params = {},
      doc = "the environment's signing keys, `{keys = {...}}`",
    },
  },

  -- What differs between the documents besides paths, fields and wrappers
  -- (those rows are derived): one row each in README's differences table.
  notes = {
    { sketch = "listConnections pages: connections:each/pages",
      live = "ListConnections does not page: one answer holds every connection",
      sdk = "connections:each/pages walk that one answer" },
    { sketch = "resendInvite: no request body",
      live = "a request body is required (an empty object)",
      sdk = "sends `{}`" },
    { sketch = "createToken: POST /oauth/token",
      live = "no path: the oauth2 security scheme's tokenUrl is the same endpoint",
      sdk = "kept as the extra operation createToken (sk:token())" },
  },
}
