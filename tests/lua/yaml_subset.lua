-- Test-only YAML subset parser (block mappings/sequences, flow [..]/{..},
-- plain/quoted scalars with YAML 1.1 core resolution).  Used as the test
-- host's yaml_parse; the real embedder uses libyaml.
local Y = {}

local function scalar(s, rt)
  s = s:gsub("%s+#.*$", ""):match("^%s*(.-)%s*$")
  if s == "" or s == "~" or s == "null" or s == "Null" or s == "NULL" then return rt.null end
  local q = s:sub(1, 1)
  if q == "'" and s:sub(-1) == "'" then return (s:sub(2, -2):gsub("''", "'")) end
  if q == '"' and s:sub(-1) == '"' then
    local body = s:sub(2, -2)
    body = body:gsub("\\(.)", {n = "\n", t = "\t", ['"'] = '"', ["\\"] = "\\", r = "\r"})
    return body
  end
  local low = s
  if ({yes=1,Yes=1,YES=1,["true"]=1,True=1,TRUE=1,on=1,On=1,ON=1})[low] then return true end
  if ({no=1,No=1,NO=1,["false"]=1,False=1,FALSE=1,off=1,Off=1,OFF=1})[low] then return false end
  if s:match("^[-+]?%d+$") then return math.tointeger(tonumber(s)) end
  if s:match("^[-+]?%d*%.%d*$") and s:match("%d") then return tonumber(s) + 0.0 end
  if s:match("^[-+]?%d+%.?%d*[eE][-+]%d+$") then return tonumber(s) + 0.0 end
  if q == "[" and s:sub(-1) == "]" then
    local l = setmetatable({}, rt.List)
    local body = s:sub(2, -2)
    if body:match("%S") then
      for item in (body .. ","):gmatch("([^,]*),") do l[#l + 1] = scalar(item, rt) end
    end
    return l
  end
  if q == "{" and s:sub(-1) == "}" then
    local d = rt.dict()
    local body = s:sub(2, -2)
    for item in (body .. ","):gmatch("([^,]*),") do
      local k, v = item:match("^%s*(.-)%s*:%s+(.-)%s*$")
      if k then rt.dict_set(d, scalar(k, rt), scalar(v, rt)) end
    end
    return d
  end
  return s
end

function Y.parse(text, rt)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    if line:match("%S") and not line:match("^%s*#") and line ~= "---" then
      lines[#lines + 1] = {indent = #line:match("^ *"), text = line:gsub("^ *", "")}
    end
  end
  local pos = 1
  local parse_block
  local function parse_seq(indent)
    local l = setmetatable({}, rt.List)
    while pos <= #lines and lines[pos].indent == indent and lines[pos].text:match("^%-%s") or
          (pos <= #lines and lines[pos].indent == indent and lines[pos].text == "-") do
      local rest = lines[pos].text:gsub("^%-%s*", "")
      if rest == "" then
        pos = pos + 1
        l[#l + 1] = parse_block(lines[pos] and lines[pos].indent or indent + 2)
      elseif rest:match("^[^'\"%[{][^:]*:%s") or rest:match("^[^'\"%[{][^:]*:$") then
        -- mapping inside a sequence item
        lines[pos] = {indent = indent + 2, text = rest}
        l[#l + 1] = parse_block(indent + 2)
      else
        l[#l + 1] = scalar(rest, rt)
        pos = pos + 1
      end
    end
    return l
  end
  local function parse_map(indent)
    local d = rt.dict()
    while pos <= #lines and lines[pos].indent == indent and not lines[pos].text:match("^%-%s") do
      local k, v = lines[pos].text:match("^(.-):%s+(.*)$")
      if not k then k = lines[pos].text:match("^(.-):$"); v = "" end
      if not k then rt.raise("eval", "yaml: cannot parse line: " .. lines[pos].text) end
      pos = pos + 1
      if v == "" then
        if pos <= #lines and (lines[pos].indent > indent or (lines[pos].indent == indent and lines[pos].text:match("^%-"))) then
          rt.dict_set(d, scalar(k, rt), parse_block(lines[pos].indent))
        else
          rt.dict_set(d, scalar(k, rt), rt.null)
        end
      else
        rt.dict_set(d, scalar(k, rt), scalar(v, rt))
      end
    end
    return d
  end
  parse_block = function(indent)
    local line = lines[pos]
    if not line then return rt.null end
    if line.text:match("^%-%s") or line.text == "-" then return parse_seq(line.indent) end
    if line.text:match("^[^'\"%[{].-:%s") or line.text:match(":$") then return parse_map(line.indent) end
    pos = pos + 1
    return scalar(line.text, rt)
  end
  if #lines == 0 then return rt.null end
  return parse_block(lines[1].indent)
end

return Y
