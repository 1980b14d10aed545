-- docs/evaluator.md names everything the evaluator's runtime registers: every YAQL
-- function and method, every Jinja filter, test and global, Mistral's functions and the
-- Python string/list/dict methods. Names are read from the loaded modules' registration
-- tables (not from their source text), and each must appear in the page as `name`.
--   lua5.4 tests/lua/check_evaluator_docs.lua [path/to/evaluator.md]
local script = arg and arg[0] or "tests/lua/check_evaluator_docs.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local Y, J = M.yaqllib, M.jinjalib

local doc_path = (arg and arg[1]) or (H.root .. "/docs/evaluator.md")
local doc = H.read(doc_path)

-- {kind, table}: the keys of each table are the registered names
local registries = {
  {"YAQL function", Y.F},
  {"YAQL method", Y.M},
  {"Jinja filter", J.filters},
  {"Jinja test", J.tests},
  {"Jinja global", J.GLOBALS},
  {"Mistral function (Jinja)", J.MISTRAL},
  {"Python str method", J.STR_METHODS},
  {"Python list method", J.LIST_METHODS},
  {"Python dict method", J.DICT_METHODS},
}

local missing, total = {}, 0
for _, r in ipairs(registries) do
  local kind, t = r[1], r[2]
  assert(type(t) == "table" and next(t) ~= nil, "no registration table for " .. kind)
  local names = {}
  for name in pairs(t) do
    -- '#'-prefixed names are the compiler's internal operators (e.g. '#list')
    if type(name) == "string" and name:sub(1, 1) ~= "#" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    total = total + 1
    if not doc:find("`" .. name .. "`", 1, true) then
      missing[#missing + 1] = kind .. " `" .. name .. "`"
    end
  end
end

if #missing > 0 then
  print(("%s does not name %d of the %d registered names:"):format(doc_path, #missing, total))
  for _, m in ipairs(missing) do print("  " .. m) end
  os.exit(1)
end
print(("all %d registered names are in %s"):format(total, doc_path))
