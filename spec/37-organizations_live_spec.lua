-- What the live API adds to organizations, against the fake server: lookup
-- by external id, logo_url and slug, the session policy, the user
-- management settings, and the portal link's {link} answer.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local api_error, walk_ok, ids = util.api_error, util.walk_ok, util.ids
local only = util.only

describe("organizations (live API)", function()
  local server, sk

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  describe("external id, logo_url and slug", function()
    it("create takes them; get_by_external_id finds the organization", function()
      local org, err = sk:call("OrganizationService_CreateOrganization", {
        display_name = "Acme", external_id = "crm/42", logo_url = "https://cdn.example.com/acme.png", slug = "acme",
      })
      assert.is_nil(err)
      assert.are.equal("https://cdn.example.com/acme.png", org.logo_url)
      assert.are.equal("acme", org.slug)
      assert.are.same({ display_name = "Acme", external_id = "crm/42", logo_url = "https://cdn.example.com/acme.png",
        slug = "acme" }, cjson.decode(only(server, "OrganizationService_CreateOrganization").body))
      local found = assert(sk:call("OrganizationService_GetOrganizationByExternalId", { external_id = "crm/42" }))
      assert.are.equal(org.id, found.id)
      assert.are.equal("/api/v1/organizations:external/crm%2F42", only(server, "OrganizationService_GetOrganizationByExternalId").path)
      assert.are.equal(org.id, assert(sk.organizations:get_by_external_id("crm/42")).id)
    end)

    it("list filters by external_id", function()
      server:seed { organizations = 3 }
      assert(sk.organizations:create { display_name = "Acme", external_id = "acme" })
      local page = assert(sk.organizations:list { external_id = "acme" })
      assert.are.same({ "org_4" }, ids(page.organizations))
      assert.are.equal("acme", server:requests("OrganizationService_ListOrganization")[1].query.external_id)
      local all = walk_ok(function() return sk.organizations:each { page_size = 3 } end)
      assert.are.equal(4, #all)
    end)

    it("update clears the slug with an empty string", function()
      local org = assert(sk.organizations:create { display_name = "Acme", slug = "acme" })
      local updated = assert(sk.organizations:update(org.id, { slug = "" }))
      assert.is_nil(updated.slug)
      assert.are.equal('{"slug":""}', only(server, "OrganizationService_UpdateOrganization").body)
    end)

    it("returns nil, err 400 for a slug or logo_url the schema refuses, 409 for a taken external id", function()
      local org, err = sk.organizations:create { display_name = "Acme", slug = "Not A Slug" }
      api_error(400, "INVALID_ARGUMENT", org, err, "OrganizationService_CreateOrganization")
      assert.are.equal("slug", err.details[1].field)
      org, err = sk.organizations:create { display_name = "Acme", logo_url = "http://insecure.example.com/x.png" }
      api_error(400, "INVALID_ARGUMENT", org, err, "OrganizationService_CreateOrganization")
      assert.are.equal("logo_url", err.details[1].field)
      assert(sk.organizations:create { display_name = "One", external_id = "dup" })
      org, err = sk.organizations:create { display_name = "Two", external_id = "dup" }
      api_error(409, "ALREADY_EXISTS", org, err, "OrganizationService_CreateOrganization")
    end)

    it("returns nil, err 404 for an unknown external id", function()
      local org, err = sk.organizations:get_by_external_id("nobody")
      api_error(404, "NOT_FOUND", org, err, "OrganizationService_GetOrganizationByExternalId")
    end)
  end)

  describe("session policy", function()
    it("reads the default, updates it and reads it back", function()
      local org = server:seed { organizations = 1 }.organization_ids[1]
      local policy, err = sk:call("OrganizationService_GetOrganizationSessionPolicy", { organization_id = org })
      assert.is_nil(err)
      assert.are.equal("APPLICATION", policy.policy_source)
      assert.is_false(policy.idle_session_timeout_enabled)
      assert.are.equal("/api/v1/organizations/" .. org .. "/session-policy",
        only(server, "OrganizationService_GetOrganizationSessionPolicy").path)
      policy = assert(sk.organizations:update_session_policy(org, {
        policy_source = "CUSTOM", idle_session_timeout_enabled = true, idle_session_timeout = 15,
        idle_session_timeout_unit = "MINUTES",
      }))
      assert.are.equal("CUSTOM", policy.policy_source)
      assert.are.equal(15, policy.idle_session_timeout)
      local req = only(server, "OrganizationService_UpdateOrganizationSessionPolicy")
      assert.are.equal("PATCH", req.method)
      assert.are.same({ policy_source = "CUSTOM", idle_session_timeout_enabled = true, idle_session_timeout = 15,
        idle_session_timeout_unit = "MINUTES" }, cjson.decode(req.body))
      assert.is_true(assert(sk.organizations:get_session_policy(org)).idle_session_timeout_enabled)
    end)

    it("returns nil, err 400 for a unit outside the enum and 404 for an unknown organization", function()
      local org = server:seed { organizations = 1 }.organization_ids[1]
      local res, err = sk.organizations:update_session_policy(org, { idle_session_timeout_unit = "WEEKS" })
      api_error(400, "INVALID_ARGUMENT", res, err, "OrganizationService_UpdateOrganizationSessionPolicy")
      assert.are.equal("idle_session_timeout_unit", err.details[1].field)
      res, err = sk.organizations:get_session_policy("org_missing")
      api_error(404, "NOT_FOUND", res, err, "OrganizationService_GetOrganizationSessionPolicy")
    end)
  end)

  describe("user management settings", function()
    it("max_allowed_users (flat or nested under settings) limits the members", function()
      local org = server:seed { organizations = 1, users = 2 }.organization_ids[1]
      local settings, err = sk:call("OrganizationService_UpsertUserManagementSettings",
        { organization_id = org, max_allowed_users = 3 })
      assert.is_nil(err)
      assert.are.equal(3, settings.max_allowed_users)
      local req = only(server, "OrganizationService_UpsertUserManagementSettings")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/settings/usermanagement", req.path)
      assert.are.same({ settings = { max_allowed_users = 3 } }, cjson.decode(req.body))
      assert(sk.users:create(org, { email = "third@example.com" }))
      local user, uerr = sk.users:create(org, { email = "fourth@example.com" })
      api_error(400, "FAILED_PRECONDITION", user, uerr, "UserService_CreateUserAndMembership")
      settings = assert(sk.organizations:update_user_management_settings(org, { settings = { max_allowed_users = 4 } }))
      assert.are.equal(4, settings.max_allowed_users)
      assert(sk.users:create(org, { email = "fourth@example.com" }))
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local res, err = sk.organizations:update_user_management_settings("org_missing", { max_allowed_users = 1 })
      api_error(404, "NOT_FOUND", res, err, "OrganizationService_UpsertUserManagementSettings")
    end)
  end)

  describe("portal link and delete", function()
    it("portal_link returns the link object; features go in the query", function()
      local org = server:seed { organizations = 1 }.organization_ids[1]
      local link, err = sk:call("OrganizationService_GeneratePortalLink", { id = org, features = { "sso", "dir_sync" } })
      assert.is_nil(err)
      assert.matches("^https://fake%.scalekit%.test/portal/" .. org .. "/%x+$", link.location)
      assert.matches("^lnk_%d+$", link.id)
      assert.are.equal("string", type(link.expire_time))
      local req = only(server, "OrganizationService_GeneratePortalLink")
      assert.are.equal("PUT", req.method)
      assert.are.same({ "sso", "dir_sync" }, req.query.features)
    end)

    it("delete returns true and takes the organization's users' memberships with it", function()
      local org = server:seed { organizations = 1, users = 1 }.organization_ids[1]
      local res, err = sk:call("OrganizationService_DeleteOrganization", { id = org })
      assert.is_nil(err)
      assert.is_true(res)
      assert.are.equal(0, #assert(sk.users:get("usr_1")).memberships)
      local gone, gerr = sk.organizations:get(org)
      api_error(404, "NOT_FOUND", gone, gerr, "OrganizationService_GetOrganization")
    end)
  end)
end)
