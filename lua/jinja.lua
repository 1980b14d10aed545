local M = ...
local J = {}
function J.compile_template(text) M.runtime.raise("unsupported", "jinja not yet") end
return J
