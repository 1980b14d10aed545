-- The Lua version of Python's float repr (lua/pyfmt.lua, used where the host has no
-- native one) against Python's own answers: tests/cases/native/float_repr.txt.
local script = arg and arg[0] or "tests/lua/test_float_repr.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local P = H.new().pyfmt

local n, bad = 0, 0
for line in io.lines(H.root .. "/tests/cases/native/float_repr.txt") do
  local hex, want = line:match("^(%x+) (%S+)$")
  local x = string.unpack("<d", string.pack("<i8", tonumber(hex, 16)))
  local got = P.float_repr(x)
  n = n + 1
  if got ~= want then
    bad = bad + 1
    if bad <= 10 then print(("FAIL %s: Python %s, glarex %s"):format(hex, want, got)) end
  end
end
print(("%d floats, %d wrong"):format(n, bad))
os.exit(bad == 0 and n > 14000 and 0 or 1)
