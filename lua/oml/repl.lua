-- oml.repl: the interactive prompt and script runner behind bin/oml.
-- Code runs in an environment of its own where `oml` is a global (the
-- library itself sets none). Each input is tried as an expression first,
-- whose values are printed (tensors as print.format shows them), then as a
-- statement; input continues over lines while the chunk is incomplete; an
-- error prints its message and the session goes on. EOF or `exit` quits.
local ffi = require "ffi"

local M = {}

-- Values printed by the prompt: tables show one level deep, long ones cut.
local MAX_TABLE_ENTRIES = 50

local function environment(oml)
  return setmetatable({ oml = oml }, { __index = _G })
end

local function stdin_is_terminal()
  pcall(ffi.cdef, "int isatty(int fd);")
  local ok, tty = pcall(function() return ffi.C.isatty(0) == 1 end)
  return ok and tty
end

-- ---- showing values ------------------------------------------------------------

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__tostring ~= nil
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- A value inside a table: short, one line.
local function brief(oml, v)
  if type(v) == "string" then return ("%q"):format(v) end
  if oml.is_tensor(v) then
    if v.storage_ == nil then return "[unset oml.Tensor]" end
    return ("%s[%s]"):format(v:type(), table.concat(v:size(), "x"))
  end
  if type(v) == "table" and not has_tostring(v) then return "{...}" end
  return tostring(v)
end

local function show_table(oml, t)
  local parts, seen = {}, {}
  for i, v in ipairs(t) do
    seen[i] = true
    parts[#parts + 1] = brief(oml, v)
  end
  local keys = {}
  for k in pairs(t) do
    if not seen[k] then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local key = is_identifier(k) and k or "[" .. brief(oml, k) .. "]"
    parts[#parts + 1] = key .. " = " .. brief(oml, t[k])
  end
  if #parts > MAX_TABLE_ENTRIES then
    local more = #parts - MAX_TABLE_ENTRIES
    for i = #parts, MAX_TABLE_ENTRIES + 1, -1 do parts[i] = nil end
    parts[#parts + 1] = ("... (%d more)"):format(more)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function show(oml, v)
  if oml.is_tensor(v) then return require("oml.print").format(v) end
  if type(v) == "table" and not has_tostring(v) then return show_table(oml, v) end
  return tostring(v)
end

-- ---- evaluating ----------------------------------------------------------------

-- A chunk is incomplete when the parser ran out of input (lua.c's test).
local function incomplete(err)
  return err:sub(-7) == "'<eof>'"
end

local function pack(...) return { n = select("#", ...), ... } end

-- The function for src, and whether it is an expression: one if src is,
-- else statements; or nil and the message. The expression's values go
-- through pack (passed in as ...) rather than `return src`, which would make
-- a call in src a tail call: its frame gone, an error could not point at
-- "stdin:1:". A second try closes the call on a new line, for a src that
-- ends with a comment.
local function compile(src, env)
  local head = "local pack_ = ...; return pack_("
  local fn = loadstring(head .. src .. ")", "=stdin") or loadstring(head .. src .. "\n)", "=stdin")
  if fn then return setfenv(fn, env), nil, true end
  local err
  fn, err = loadstring(src, "=stdin")
  if fn then return setfenv(fn, env), nil, false end
  local _, expression_err = loadstring("return " .. src, "=stdin")
  if expression_err and incomplete(expression_err) then return nil, expression_err end
  -- a statement that fails on its first token was meant as an expression
  local near = err:match("^stdin:1: unexpected symbol near '(.*)'$")
  if near and expression_err and src:match("^%s*(.*)"):sub(1, #near) == near then return nil, expression_err end
  return nil, err
end

-- Runs fn; returns ok and a packed list of its values (or of the error).
local function execute(fn, expression)
  if expression then
    local ok, values = pcall(fn, pack)
    return ok, ok and values or pack(values)
  end
  local results = pack(pcall(fn))
  return results[1], pack(unpack(results, 2, results.n))
end

-- Runs the prompt on input (default io.stdin), writing values to output
-- (default io.stdout) and messages to errors (default io.stderr).
function M.run(oml, input, output, errors)
  input, output, errors = input or io.stdin, output or io.stdout, errors or io.stderr
  local env = environment(oml)
  local interactive = input == io.stdin and stdin_is_terminal()
  local function report(msg)
    if type(msg) ~= "string" and not has_tostring(msg) then
      msg = ("(error object is a %s value)"):format(type(msg))
    end
    output:flush()
    errors:write(tostring(msg), "\n")
    errors:flush()
  end
  if interactive then
    output:write(("oml %s on %s; `oml` is loaded. exit or Ctrl-D quits.\n"):format(oml.version, jit.version))
  end
  local pending -- the lines of an incomplete chunk
  while true do
    if interactive then
      output:write(pending and ">> " or "> ")
      output:flush()
    end
    local line = input:read("*l")
    if line == nil then
      if pending then report("stdin: unexpected end of input") end
      break
    end
    if not pending and (line:match("^%s*exit%s*$") or line:match("^%s*exit%(%)%s*$")) then break end
    local src = pending and pending .. "\n" .. line or line:gsub("^=", "return ", 1)
    local fn, err, expression = compile(src, env)
    pending = nil
    if fn then
      local ok, values = execute(fn, expression)
      if not ok then
        report(values[1])
      elseif values.n > 0 then
        local shown = {}
        for i = 1, values.n do shown[i] = show(oml, values[i]) end
        output:write(table.concat(shown, "\t"), "\n")
        output:flush()
      end
    elseif incomplete(err) then
      pending = src
    else
      report(err)
    end
  end
  if interactive then output:write("\n") end
end

-- Runs the script at path with args (a list) as its `arg` and `...`, in an
-- environment with `oml` loaded. Returns true, or false and the error with
-- its traceback.
function M.run_script(oml, path, args)
  local fn, err = loadfile(path)
  if not fn then return false, err end
  local env = environment(oml)
  local script_arg = { [0] = path }
  for i, a in ipairs(args) do script_arg[i] = a end
  env.arg = script_arg
  setfenv(fn, env)
  return xpcall(function() return fn(unpack(script_arg)) end, debug.traceback)
end

return M
