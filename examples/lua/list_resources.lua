-- Lists the resources of a workflow artifact and verifies each one.
--
--   lua5.4 list_resources.lua STORE_URL NAME VERSION [CACHE_DIR]
--
-- STORE_URL is http(s)://HOST:PORT (Glare), file:///DIR, or "-" for the embedded default
-- store. Prints "sha256  size  key" for each resource, sorted by key, as sha256sum does.
-- glarex verifies every download itself; this script still compares what glarex served
-- with what the artifact records, as a consumer that trusts nothing would.
-- Exit status: 0 when every resource matches, 1 on a mismatch or an error, 2 on misuse.
local glarex = require "glarex"

local function die(status, fmt, ...)
  io.stderr:write("list_resources: ", string.format(fmt, ...), "\n")
  os.exit(status, true) -- true: close the Lua state, which closes the context
end

local url, name, version, cache_dir = ...
if not version or select("#", ...) > 4 then
  die(2, "usage: lua5.4 list_resources.lua STORE_URL NAME VERSION [CACHE_DIR]")
end

local ctx, err = glarex.open{url = url ~= "-" and url or nil, cache_dir = cache_dir}
if not ctx then die(1, "%s", err) end

local artifact
artifact, err = ctx:artifact(name, version)
if not artifact then die(1, "%s", err) end

local recorded = artifact.resources or {}
local keys = {}
for key in pairs(recorded) do keys[#keys + 1] = key end
table.sort(keys)

local bad = 0
for _, key in ipairs(keys) do
  -- info() fetches the resource (into the cache) and describes what was served
  local info, msg = ctx:info(name, artifact.version, key)
  if not info then
    io.stderr:write("list_resources: ", msg, "\n")
    bad = bad + 1
  elseif info.sha256 ~= recorded[key].sha256 or info.size ~= recorded[key].size then
    io.stderr:write(string.format(
      "list_resources: %s: served %s (%d bytes), recorded %s (%s)\n",
      key, info.sha256, info.size, recorded[key].sha256, recorded[key].size))
    bad = bad + 1
  else
    print(string.format("%s  %d  %s", info.sha256, info.size, key))
  end
end

ctx:close()
os.exit(bad == 0 and 0 or 1, true)
