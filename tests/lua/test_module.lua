-- The Lua module as a plain lua5.4 interpreter loads it: run by tests/test_lua_module.c
-- with LUA_CPATH pointing at the built glarex.so, a store URL and a cache directory.
local store_url, cache_dir, glare_url = arg[1], arg[2], arg[3]
local glarex = require "glarex"

local failures = 0
local function check(cond, what)
  if not cond then
    failures = failures + 1
    io.stderr:write("FAIL: ", what, "\n")
  end
end

check(type(glarex.version) == "string", "version string")
check(type(glarex.null) == "userdata", "null sentinel")

-- misuse raises
check(not pcall(glarex.open, {nosuch = 1}), "unknown option raises")
check(not pcall(glarex.open, {offline = "yes"}), "option of the wrong type raises")

local ctx = assert(glarex.open{url = store_url, cache_dir = cache_dir})
check(tostring(ctx):find(store_url, 1, true), "tostring names the store")

local text = ctx:fetch("heal_vms", "1.0", "heal.sh")
check(text == "#!/bin/sh\necho healing\n", "fetch by name, version, resource")
check(ctx:fetch("glare://heal_vms@1.0/heal.sh") == text, "fetch by URI")

local path = ctx:path("heal_vms", "1.0", "heal.sh")
local f = io.open(path, "rb")
check(f and f:read("a") == text, "path names the verified cached file")
if f then f:close() end

local info = ctx:info("heal_vms", "1.0", "heal.sh")
check(info.size == 23 and info.key == "heal.sh" and #info.sha256 == 64, "info fields")

-- expected failures: nil, message, code
local v, msg, code = ctx:fetch("heal_vms", "1.0", "nope.sh")
check(v == nil and msg:find("nope.sh", 1, true) and code == -2, "not found is nil, msg, code")
v, msg, code = ctx:fetch("glare://heal_vms@1.x/heal.sh")
check(v == nil and code == -3 and msg:find("column", 1, true), "bad reference names its column")
check(not pcall(ctx.fetch, ctx, 1, 2), "wrong argument count raises")

local art = assert(ctx:artifact("heal_vms", "1.0"))
check(art.version == "1.0.0" and art.resources["heal.sh"].size == 23, "artifact as a table")
local keys = {}
for k in pairs(art.resources) do keys[#keys + 1] = k end
check(#keys == 1, "one resource listed")
check(ctx:artifact("heal_vms") ~= nil, "latest active artifact")

check(ctx:eval("<% $.a + 1 %>", {a = 41}) == 42, "eval YAQL")
check(ctx:eval("<% glare('heal_vms', '1.0', 'heal.sh') %>") == text, "eval glare()")
local r = ctx:eval({k = "<% $.a %>", n = {1, "<% $.a %>"}}, {a = "x"})
check(r.k == "x" and r.n[2] == "x", "eval a table recursively")
check(ctx:eval("<% $.n %>", {n = glarex.null}) == glarex.null, "null round trip")
v, msg, code = ctx:eval("<% $.missing %>", {a = 1})
check(v == nil and code == -19, "evaluation error is nil, msg, code")

local stats = ctx:stats()
check(stats.downloads >= 1, "stats")

-- requests: whose, which workflow, as of when
local req = assert(ctx:request{token = "alice:projA:member", workflow = "heal_vms",
                               execution = "e-1", as_of = os.time() + 1})
check(#req:scope() == 64, "a request has a 64-digit scope key")
check(req:scope() ~= assert(ctx:request{token = "bob:projB:member"}):scope(),
      "two projects, two scopes")
check(req:fetch("heal.sh") == text, "self reference through a request")
check(req:fetch("glare://heal.sh") == text, "self reference as a URI")
check(req:fetch("heal_vms", "latest", "heal.sh") == text, "latest as of a time")
check(req:eval("<% glare('heal.sh') %>") == text, "eval as a request")
check(req:info("heal.sh").version == "1.0.0", "info through a request")
v, msg, code = assert(ctx:request{as_of = 1}):fetch("heal_vms", "latest", "heal.sh")
check(v == nil and code == -2 and msg:find("activated before", 1, true),
      "nothing was active as of 1970")
v, msg, code = ctx:fetch("heal.sh")
check(v == nil and code == -3 and msg:find("no workflow is known", 1, true),
      "a self reference needs a workflow")
check(not pcall(ctx.request, ctx, {nope = 1}), "unknown request option raises")

-- one context on a Glare server, two projects with private artifacts of one name and
-- version, one cache directory: each request reads its own project's bytes
do
  local shared <close> = assert(glarex.open{url = glare_url, cache_dir = cache_dir,
                                            token = "svc:projS:member"})
  local ra = assert(shared:request{token = "alice:projA:member"})
  local rb = assert(shared:request{token = "bob:projB:member"})
  local rc_ = assert(shared:request{token = "carol:projC:member"})
  for _ = 1, 3 do
    local got, msg = ra:fetch("shared", "1.0", "run.sh")
    check(got == "A bytes", "project A reads its bytes: " .. tostring(got or msg))
    check(rb:fetch("shared", "1.0", "run.sh") == "B bytes", "project B reads its bytes")
  end
  local none, _, why = rc_:fetch("shared", "1.0", "run.sh")
  check(none == nil and why == -2, "a project without access gets not found, no bytes")
  none = shared:fetch("shared", "1.0", "run.sh")
  check(none == nil, "the context's own project sees neither")
end
v, msg, code = ctx:request{workflow = "@1"}
check(v == nil and code == -3, "a bad workflow is nil, msg, code")

ctx:close()
ctx:close() -- idempotent
check(not pcall(req.fetch, req, "heal.sh"), "a request on a closed context raises")
check(not pcall(ctx.fetch, ctx, "glare://x/y"), "closed context raises")
do
  local c <close> = assert(glarex.open{url = store_url, cache_dir = cache_dir})
  check(c:fetch("heal_vms", "1.0", "heal.sh") == text, "to-be-closed context")
end

if failures > 0 then
  print(string.format("lua module: %d failed", failures))
  os.exit(1)
end
print("lua module: all checks passed")
