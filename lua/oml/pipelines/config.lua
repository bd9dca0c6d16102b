-- oml.pipelines.config: the configs of the pipelines.
--
-- A pipeline declares its defaults as a Lua table; a user's config (a Lua file
-- that returns a table, or a JSON file) is merged over them, then the command
-- line's `--key value` overrides (dotted keys: `--optimizer.args.lr 1e-5`).
--
--   local cfg, help = config.from_args(DEFAULTS, arg, "usage: luajit recipes/x.lua")
--   if not cfg then io.stdout:write(help) os.exit(0) end
--
-- Blocks are OML's {name = ..., args = {...}} (oml.pipelines.registry builds
-- them). Rules:
-- - An unknown key is an error naming its dotted key ("optimizer.args.lrr:
--   unknown key"), args included: while a block keeps its default name, its
--   args are those its defaults list (list them all: --help shows them).
-- - Args are free-form where the config cannot know them: in a block whose
--   name differs from the default's (the defaults' args belong to the default
--   target, so a renamed block starts from empty args), in an optional block,
--   and in a table the defaults mark config.open{...}. There any key is
--   accepted and the constructor checks it (naming the argument).
-- - Types come from the defaults: a whole number is an integer, a fraction a
--   number; inside args every number is a number (the constructor checks
--   integers); config.number(0) declares a number whose default is whole;
--   config.optional("string") a key without a default ("block" for an
--   optional block), which JSON's null or `--key null` unsets. Lists and
--   empty tables ({}: any table) are replaced as a whole.
-- - Precedence: defaults < the --config file < --key value.
-- - A Lua config runs in an empty environment (no globals at all): it is a
--   table written in Lua, not a script.
local cjson = require "cjson"

local M = {}

local NULL = cjson.null
local Failure, Typed = {}, {}

-- Internal errors are tables; public functions turn them into messages that
-- point at their caller's line.
local function fail(fmt, ...)
  error(setmetatable({ msg = fmt:format(...) }, Failure), 0)
end

-- A public function: a Failure becomes "oml.pipelines.config: ..." raised at
-- the caller's line (finish is tail-called, so level 2 is the caller).
local function finish(ok, ...)
  if ok then return ... end
  local err = ...
  if getmetatable(err) == Failure then error("oml.pipelines.config: " .. err.msg, 2) end
  error(err, 0)
end

local function public(fn)
  return function(...) return finish(pcall(fn, ...)) end
end

-- ---- typed defaults --------------------------------------------------------

-- number(value): a number default that may be whole (a fraction is allowed).
function M.number(value)
  assert(type(value) == "number", "oml.pipelines.config.number: expects a number")
  return setmetatable({ type = "number", value = value }, Typed)
end

local OPTIONAL_TYPES = { integer = 1, number = 1, boolean = 1, string = 1, list = 1, table = 1, block = 1 }

-- optional(type): a key without a default value, of the given type.
function M.optional(type_name)
  assert(OPTIONAL_TYPES[type_name], "oml.pipelines.config.optional: unknown type " .. tostring(type_name))
  return setmetatable({ type = type_name, optional = true }, Typed)
end

-- open(t): marks the defaults' table t (a block's args, say) as accepting
-- keys it does not list; returns t.
local OPEN = setmetatable({}, { __mode = "k" })
function M.open(t)
  assert(type(t) == "table", "oml.pipelines.config.open: expects a table")
  OPEN[t] = true
  return t
end

-- ---- describing values -----------------------------------------------------

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function is_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- A defaults' block: a name and perhaps args, nothing else.
local function is_block(t)
  for k in pairs(t) do
    if k ~= "name" and k ~= "args" then return false end
  end
  return type(t.name) == "string" and (t.args == nil or type(t.args) == "table")
end

local function is_whole(v)
  return type(v) == "number" and v == math.floor(v) and math.abs(v) ~= math.huge
end

-- The type of a default (and whether it may be unset); in_args: numbers are
-- "number", tables of keys (even empty) are sections.
local function type_of(d, in_args)
  if getmetatable(d) == Typed then return d.type, d.optional end
  local t = type(d)
  if t == "number" then return (is_whole(d) and not in_args) and "integer" or "number" end
  if t ~= "table" then return t end
  if OPEN[d] then return "section" end
  if next(d) == nil then return in_args and "section" or "table" end
  if is_block(d) then return "block" end
  if is_list(d) then return "list" end
  return "section"
end

local EXPECTED = {
  integer = "an integer", number = "a number", boolean = "a boolean (true or false)", string = "a string",
  list = "a list", table = "a table", section = "a table of keys", block = "a block {name = ..., args = {...}}",
}

local function show(v)
  if type(v) == "string" then return ("string %q"):format(v) end
  if v == NULL then return "null" end
  if v == nil then return "nothing" end
  if type(v) == "table" then return is_list(v) and "a list" or "a table" end
  return type(v) .. " " .. tostring(v)
end

local function has_type(v, t)
  if t == "integer" then return is_whole(v) end
  if t == "list" then return type(v) == "table" and is_list(v) end
  if t == "section" or t == "table" or t == "block" then return type(v) == "table" end
  return type(v) == t
end

local function label(path)
  return path == "" and "the config" or path
end

local function join(path, key)
  return path == "" and tostring(key) or path .. "." .. tostring(key)
end

-- A plain deep copy: JSON nulls dropped, typed defaults resolved.
local function plain(v)
  if getmetatable(v) == Typed then return v.value end
  if v == NULL then return nil end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = plain(x) end
  return out
end

-- ---- merging ---------------------------------------------------------------

local merge

-- Merges the user's table of keys u over the defaults' d.
local function merge_section(d, u, path, in_args)
  for _, k in ipairs(sorted_keys(u)) do
    if d[k] == nil and not OPEN[d] then fail("%s: unknown key", join(path, k)) end
  end
  local out = {}
  for _, k in ipairs(sorted_keys(d)) do out[k] = merge(d[k], u[k], join(path, k), in_args) end
  for k, v in pairs(u) do
    if d[k] == nil then out[k] = plain(v) end
  end
  return out
end

local function merge_block(d, u, path)
  for _, k in ipairs(sorted_keys(u)) do
    if k ~= "name" and k ~= "args" then fail("%s: unknown key", join(path, k)) end
  end
  local default_name = getmetatable(d) ~= Typed and d.name or nil
  local name = u.name
  if name == nil then name = default_name end
  if type(name) ~= "string" then fail("%s: expected a string (got %s)", join(path, "name"), show(name)) end
  local args = u.args or {}
  if type(args) ~= "table" then fail("%s: expected a table of keys (got %s)", join(path, "args"), show(args)) end
  if name ~= default_name then return { name = name, args = plain(args) } end
  return { name = name, args = merge_section(d.args or {}, args, join(path, "args"), true) }
end

-- The value of default d with user value u (nil: not given) at dotted path.
function merge(d, u, path, in_args)
  local t, optional = type_of(d, in_args)
  if u == nil then return plain(d) end
  if u == NULL then
    if optional then return nil end
    fail("%s: cannot be null (expected %s)", label(path), EXPECTED[t])
  end
  if not has_type(u, t) then fail("%s: expected %s (got %s)", label(path), EXPECTED[t], show(u)) end
  if t == "block" then return merge_block(d, u, path) end
  if t == "section" then return merge_section(d, u, path, in_args) end
  return plain(u)
end

-- merge(defaults, user [, where]) -> the resolved config (a new table); where
-- (a file name, say) prefixes the messages.
local function merge_all(defaults, user, where)
  local ok, err = pcall(merge, defaults, user, "", false)
  if ok then return err end
  if getmetatable(err) == Failure and where then fail("%s: %s", where, err.msg) end
  error(err, 0)
end
M.merge = public(merge_all)

-- ---- loading files ---------------------------------------------------------

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s", err) end
  local text = f:read("*a")
  f:close()
  return text
end

-- load(path) -> the table of a .lua or .json config file.
local function load_file(path)
  if type(path) ~= "string" then fail("the config path must be a string (got %s)", type(path)) end
  local ext = path:match("%.(%w+)$")
  local value
  if ext == "lua" then
    local text = read_file(path)
    if text:byte(1) == 27 then fail("%s: precompiled Lua is not a config", path) end
    local chunk, err = loadstring(text, "@" .. path)
    if not chunk then fail("%s", err) end
    setfenv(chunk, {})
    local ok, result = pcall(chunk)
    if not ok then fail("%s", tostring(result)) end
    value = result
  elseif ext == "json" then
    local ok, result = pcall(cjson.decode, read_file(path))
    if not ok then fail("%s: %s", path, tostring(result)) end
    value = result
  else
    fail("%s: a config is a .lua or a .json file", path)
  end
  if type(value) ~= "table" or (next(value) ~= nil and is_list(value)) then
    fail("%s: a config must give a table of keys (got %s)", path, type(value))
  end
  return value
end
M.load = public(load_file)

-- ---- the command line ------------------------------------------------------

local function split(key)
  local parts = {}
  for part in key:gmatch("[^.]+") do parts[#parts + 1] = part end
  return parts
end

-- The value at parts[1..n] of a nested table (nil where absent).
local function dig(t, parts, n)
  for i = 1, n do
    if type(t) ~= "table" then return nil end
    t = t[parts[i]]
  end
  return t
end

-- What `--key` may hold: its type and whether it may be unset, or "free".
-- A block's args are typed only while the block keeps its default name, the
-- name being the command line's, else the file's, else the default's.
local function slot(defaults, file, names, key)
  local parts, node, in_args = split(key), defaults, false
  for i, part in ipairs(parts) do
    local t = type_of(node, in_args)
    local here = table.concat(parts, ".", 1, i - 1)
    if t == "block" and part == "name" and i == #parts then
      return "string"
    elseif t == "block" and part == "args" then
      local in_file = dig(file, parts, i - 1)
      local name = names[join(here, "name")] or (type(in_file) == "table" and in_file.name or nil)
      if getmetatable(node) == Typed or (name ~= nil and name ~= node.name) then return "free" end
      node, in_args = node.args or {}, true
    elseif t == "section" and node[part] ~= nil then
      node = node[part]
    elseif (t == "section" and OPEN[node]) or t == "table" then
      return "free"
    else
      fail("--%s: unknown key", key)
    end
  end
  return type_of(node, in_args)
end

local function decode_json(raw, key)
  local ok, value = pcall(cjson.decode, raw)
  if not ok then fail("--%s: expected JSON (got '%s')", key, raw) end
  return value
end

-- A free-form value: a boolean, a number, JSON, null, or else a string.
local function guess(raw, key)
  if raw == "true" or raw == "false" then return raw == "true" end
  if raw == "null" then return NULL end
  if tonumber(raw) then return tonumber(raw) end
  if raw:match("^%s*[%[{\"]") then return decode_json(raw, key) end
  return raw
end

local function parse(raw, t, optional, key)
  if optional and raw == "null" then return NULL end
  if t == "free" then return guess(raw, key) end
  if t == "string" then return raw end
  local value
  if t == "boolean" then
    if raw == "true" or raw == "false" then value = raw == "true" end
  elseif t == "number" or t == "integer" then
    value = tonumber(raw)
    if t == "integer" and not is_whole(value) then value = nil end
  else
    value = decode_json(raw, key)
    if not has_type(value, t) then value = nil end
  end
  if value == nil then fail("--%s: expected %s (got '%s')", key, EXPECTED[t], raw) end
  return value
end

local function set(layer, key, value)
  local parts, t = split(key), layer
  for i = 1, #parts - 1 do
    if t[parts[i]] == nil then t[parts[i]] = {} end
    t = t[parts[i]]
    if type(t) ~= "table" then fail("--%s: %s is already set to a value", key, table.concat(parts, ".", 1, i)) end
  end
  t[parts[#parts]] = value
end

-- Reads argv into {config = path, help = bool, pairs = {{key, raw}, ...}}.
local function read_argv(argv)
  local out, i = { pairs = {} }, 1
  while argv[i] ~= nil do
    local word = argv[i]
    local key, raw = word:match("^%-%-([^=]+)=(.*)$")
    if word == "--help" or word == "-h" then
      out.help, i = true, i + 1
    elseif key then
      i = i + 1
    elseif word:match("^%-%-.") then
      key, raw, i = word:sub(3), argv[i + 1], i + 2
      if raw == nil then fail("--%s: expects a value", key) end
    else
      fail("unexpected argument '%s' (overrides are --key value)", word)
    end
    if key == "config" then out.config = raw elseif key then out.pairs[#out.pairs + 1] = { key, raw } end
  end
  return out
end

-- Overlays user layer `upper` on `lower`: a renamed block starts afresh; lists
-- and values replace; tables of keys merge.
local function overlay(lower, upper, d, in_args)
  if type(lower) ~= "table" or type(upper) ~= "table" or upper == NULL then return upper end
  local t = d == nil and "free" or type_of(d, in_args)
  local renamed = upper.name ~= nil and upper.name ~= lower.name
  if t == "list" or t == "table" or ((t == "block" or t == "free") and renamed) then return upper end
  if t == "free" and is_list(upper) and next(upper) ~= nil then return upper end
  local out = {}
  for k, v in pairs(lower) do out[k] = v end
  for k, v in pairs(upper) do
    local dk
    if t == "block" and getmetatable(d) ~= Typed then dk = k == "args" and (d.args or {}) or d[k]
    elseif t == "section" then dk = d[k] end
    out[k] = overlay(lower[k], v, dk, in_args or (t == "block" and k == "args"))
  end
  return out
end

-- ---- help ------------------------------------------------------------------

local function show_default(v)
  if getmetatable(v) == Typed then
    if v.optional then return "(none)" end
    v = v.value
  end
  if type(v) == "number" then return ("%.10g"):format(v) end
  if type(v) == "table" then return (cjson.encode(v)) end
  if type(v) == "string" then return ('"%s"'):format(v) end
  return tostring(v)
end

local function help_lines(d, path, in_args, lines)
  local t, optional = type_of(d, in_args)
  if t == "section" then
    for _, k in ipairs(sorted_keys(d)) do help_lines(d[k], join(path, k), in_args, lines) end
    if OPEN[d] then lines[#lines + 1] = { join(path, "*"), "any", "(other keys)" } end
  elseif t == "block" and not optional then
    lines[#lines + 1] = { path .. ".name", "string", show_default(d.name) }
    help_lines(d.args or {}, path .. ".args", true, lines)
  else
    lines[#lines + 1] = { path, t .. (optional and "?" or ""), show_default(d) }
  end
end

-- help(defaults [, usage]) -> the text of --help: every key, its type, its default.
local function help_text(defaults, usage)
  local lines = {}
  help_lines(defaults, "", false, lines)
  local width = 12
  for _, line in ipairs(lines) do width = math.max(width, #line[1] + 2) end
  local out = {
    usage or "usage: luajit SCRIPT [--config FILE.lua|FILE.json] [--KEY VALUE ...]", "",
    "Keys (a config file is merged over the defaults, then --KEY VALUE overrides;",
    "dotted keys reach into tables; TYPE? may be null; JSON for lists and tables;",
    "a block given another name takes any args, which its constructor checks):", "",
    ("  %-" .. width .. "s %-9s %s"):format("--config", "path", "a .lua or .json config file"),
  }
  for _, line in ipairs(lines) do
    out[#out + 1] = ("  %-" .. width .. "s %-9s %s"):format("--" .. line[1], line[2], line[3])
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end
M.help = public(help_text)

-- from_args(defaults, argv [, usage]) -> config, or nil and the help text when
-- argv asks for --help. argv: `--config FILE`, `--key value`, `--key=value`.
M.from_args = public(function(defaults, argv, usage)
  local args = read_argv(argv or {})
  if args.help then return nil, help_text(defaults, usage) end
  local file = {}
  if args.config then
    file = load_file(args.config)
    merge_all(defaults, file, args.config)
  end
  local names = {}
  for _, pair in ipairs(args.pairs) do
    if pair[1]:match("%.name$") then names[pair[1]] = pair[2] end
  end
  local cli = {}
  for _, pair in ipairs(args.pairs) do
    local key, raw = pair[1], pair[2]
    if key:match("^%.") or key:match("%.%.") or key:match("%.$") then fail("--%s: not a dotted key", key) end
    local t, optional = slot(defaults, file, names, key)
    set(cli, key, parse(raw, t, optional, key))
  end
  return merge_all(defaults, overlay(file, cli, defaults, false), "command line")
end)

return M
