-- oml.io.pickle: a safe unpickler for what torch.save writes in a state dict
-- (pickle protocol 2, plus SHORT_BINUNICODE): dicts and OrderedDicts, lists,
-- tuples, strings, numbers, booleans, None, and tensors rebuilt from storage
-- references. It never runs code: GLOBAL accepts only the names in ALLOWED,
-- REDUCE only calls them through the caller's constructors, and every other
-- opcode or global is refused with an error naming it.
--
-- Values in Lua: strings, numbers and booleans as they are; None as M.NONE;
-- dicts (OrderedDict too) as Lua tables marked by M.Dict; lists and tuples
-- as sequences marked by M.List and M.Tuple (with .n, as they may hold None);
-- an allowed global as M.Global { name = "module.name" }.
--
-- Errors are tables { what = "..." }, as in oml.io.zip.
local ffi = require "ffi"

local M = {}

local function fail(fmt, ...)
  error({ what = select("#", ...) > 0 and fmt:format(...) or fmt }, 0)
end

M.NONE = setmetatable({}, { __tostring = function() return "None" end })
M.Dict = { __name = "dict" }
M.List = { __name = "list" }
M.Tuple = { __name = "tuple" }
M.Global = { __name = "global" }

M.ORDERED_DICT = "collections.OrderedDict"

-- The globals a state dict names. Storage types only appear inside storage
-- references; the rest are what REDUCE may call.
M.ALLOWED = {
  [M.ORDERED_DICT] = true,
  ["torch._utils._rebuild_tensor_v2"] = true,
  ["torch._utils._rebuild_parameter"] = true,
  ["torch.FloatStorage"] = true, ["torch.HalfStorage"] = true, ["torch.BFloat16Storage"] = true,
  ["torch.LongStorage"] = true, ["torch.IntStorage"] = true, ["torch.DoubleStorage"] = true,
  ["torch.ByteStorage"] = true, ["torch.BoolStorage"] = true,
}

local MAX_SAFE = 2 ^ 53

local function sequence(mt, items, first, last)
  local s = setmetatable({ n = last - first + 1 }, mt)
  for i = first, last do s[i - first + 1] = items[i] end
  return s
end

local double_box = ffi.new("double[1]")
local function big_endian_double(s)
  local bytes = ffi.cast("uint8_t *", double_box)
  for i = 0, 7 do bytes[i] = s:byte(8 - i) end -- the host is little-endian
  return double_box[0]
end

-- A little-endian two's complement integer of the bytes of s (LONG1).
local function long_value(s)
  local value = 0
  for i = #s, 1, -1 do value = value * 256 + s:byte(i) end
  if #s > 0 and s:byte(#s) >= 128 then value = value - 2 ^ (8 * #s) end
  if math.abs(value) > MAX_SAFE then fail("an integer of %d bytes is too large to hold exactly", #s) end
  return value
end

local function signed32(u)
  return u >= 2 ^ 31 and u - 2 ^ 32 or u
end

-- A key for a Lua table: Python's None cannot be one, and floats are kept
-- apart from nothing else, which state dicts never need.
local function check_key(key)
  if key == M.NONE or type(key) == "table" then fail("a dict key of type %s is not supported", M.type_name(key)) end
  return key
end

-- A value's Python-ish type name, for messages.
function M.type_name(x)
  if x == M.NONE then return "None" end
  local mt = getmetatable(x)
  if mt and mt.__name then return mt.__name end
  return type(x)
end

-- load(data, hooks) -> the unpickled value
--   hooks.persistent_load(pid)      -> the object a BINPERSID reference names
--   hooks.reduce(global_name, args) -> what calling an allowed global gives
--                                      (args a M.Tuple); OrderedDict is built here
function M.load(data, hooks)
  local pos, len = 1, #data
  local stack, marks, memo = {}, {}, {}
  local top = 0

  local function take(n, what)
    if pos + n - 1 > len then fail("the pickle ends inside %s", what) end
    local s = data:sub(pos, pos + n - 1)
    pos = pos + n
    return s
  end
  local function u8(what) return take(1, what):byte() end
  local function u16(what)
    local s = take(2, what)
    return s:byte(1) + 256 * s:byte(2)
  end
  local function u32(what)
    local s = take(4, what)
    return s:byte(1) + 256 * s:byte(2) + 65536 * s:byte(3) + 16777216 * s:byte(4)
  end
  local function line(what)
    local stop = data:find("\n", pos, true)
    if stop == nil then fail("the pickle ends inside %s", what) end
    local s = data:sub(pos, stop - 1)
    pos = stop + 1
    return s
  end

  local function push(x)
    top = top + 1
    stack[top] = x
  end
  local function pop(opname)
    if top == 0 or (#marks > 0 and top <= marks[#marks]) then fail("%s on an empty stack", opname) end
    local x = stack[top]
    stack[top] = nil
    top = top - 1
    return x
  end
  local function peek(opname)
    if top == 0 or (#marks > 0 and top <= marks[#marks]) then fail("%s on an empty stack", opname) end
    return stack[top]
  end
  -- the items above the last MARK, which is dropped: first and last index
  local function pop_mark(opname)
    local mark = table.remove(marks)
    if mark == nil then fail("%s without a MARK", opname) end
    local first = mark + 1
    return first, top, function()
      for i = top, first, -1 do stack[i] = nil end
      top = mark
    end
  end
  local function expect(x, mt, opname)
    if getmetatable(x) ~= mt then fail("%s on a %s", opname, M.type_name(x)) end
    return x
  end
  local function set_items(dict, first, last, opname)
    if (last - first + 1) % 2 ~= 0 then fail("%s with an odd number of items", opname) end
    for i = first, last, 2 do dict[check_key(stack[i])] = stack[i + 1] end
  end

  local function reduce(callable, args)
    if getmetatable(callable) ~= M.Global then fail("REDUCE of a %s", M.type_name(callable)) end
    expect(args, M.Tuple, "REDUCE with arguments")
    if callable.name == M.ORDERED_DICT then
      if args.n ~= 0 then fail("REDUCE of %s with arguments", M.ORDERED_DICT) end
      return setmetatable({}, M.Dict)
    end
    if callable.name:match("Storage$") then fail("REDUCE of %s is not supported", callable.name) end
    return hooks.reduce(callable.name, args)
  end

  local ops = {
    ["\128"] = function() -- PROTO
      local version = u8("PROTO")
      if version > 4 then fail("pickle protocol %d is not supported", version) end
    end,
    ["}"] = function() push(setmetatable({}, M.Dict)) end,                 -- EMPTY_DICT
    ["]"] = function() push(setmetatable({ n = 0 }, M.List)) end,         -- EMPTY_LIST
    [")"] = function() push(setmetatable({ n = 0 }, M.Tuple)) end,        -- EMPTY_TUPLE
    ["("] = function() marks[#marks + 1] = top end,                       -- MARK
    ["X"] = function() push(take(u32("BINUNICODE"), "a string")) end,     -- BINUNICODE
    ["\140"] = function() push(take(u8("SHORT_BINUNICODE"), "a string")) end,
    ["J"] = function() push(signed32(u32("BININT"))) end,
    ["K"] = function() push(u8("BININT1")) end,
    ["M"] = function() push(u16("BININT2")) end,
    ["\138"] = function() push(long_value(take(u8("LONG1"), "LONG1"))) end,
    ["G"] = function() push(big_endian_double(take(8, "BINFLOAT"))) end,
    ["N"] = function() push(M.NONE) end,
    ["\136"] = function() push(true) end,                                 -- NEWTRUE
    ["\137"] = function() push(false) end,                                -- NEWFALSE
    ["t"] = function()                                                    -- TUPLE
      local first, last, drop = pop_mark("TUPLE")
      local tuple = sequence(M.Tuple, stack, first, last)
      drop()
      push(tuple)
    end,
    ["s"] = function()                                                    -- SETITEM
      local value, key = pop("SETITEM"), pop("SETITEM")
      expect(peek("SETITEM"), M.Dict, "SETITEM")[check_key(key)] = value
    end,
    ["u"] = function()                                                    -- SETITEMS
      local first, last, drop = pop_mark("SETITEMS")
      if first == 1 then fail("SETITEMS on an empty stack") end
      local dict = expect(stack[first - 1], M.Dict, "SETITEMS")
      set_items(dict, first, last, "SETITEMS")
      drop()
    end,
    ["a"] = function()                                                    -- APPEND
      local value = pop("APPEND")
      local list = expect(peek("APPEND"), M.List, "APPEND")
      list.n = list.n + 1
      list[list.n] = value
    end,
    ["e"] = function()                                                    -- APPENDS
      local first, last, drop = pop_mark("APPENDS")
      if first == 1 then fail("APPENDS on an empty stack") end
      local list = expect(stack[first - 1], M.List, "APPENDS")
      for i = first, last do
        list.n = list.n + 1
        list[list.n] = stack[i]
      end
      drop()
    end,
    ["q"] = function() memo[u8("BINPUT")] = peek("BINPUT") end,
    ["r"] = function() memo[u32("LONG_BINPUT")] = peek("LONG_BINPUT") end,
    ["h"] = function()
      local i = u8("BINGET")
      if memo[i] == nil then fail("BINGET of memo %d, which is empty", i) end
      push(memo[i])
    end,
    ["j"] = function()
      local i = u32("LONG_BINGET")
      if memo[i] == nil then fail("LONG_BINGET of memo %d, which is empty", i) end
      push(memo[i])
    end,
    ["c"] = function()                                                    -- GLOBAL
      local name = line("GLOBAL") .. "." .. line("GLOBAL")
      if not M.ALLOWED[name] then fail("the pickle names the global '%s', which is not allowed", name) end
      push(setmetatable({ name = name }, M.Global))
    end,
    ["R"] = function()                                                    -- REDUCE
      local args = pop("REDUCE")
      local callable = pop("REDUCE")
      push(reduce(callable, args))
    end,
    ["b"] = function()                                                    -- BUILD
      pop("BUILD") -- the state: OrderedDict's is its _metadata, which oml does not need
      expect(peek("BUILD"), M.Dict, "BUILD")
    end,
    ["Q"] = function() push(hooks.persistent_load(pop("BINPERSID"))) end, -- BINPERSID
  }
  ops["\133"] = function() push(sequence(M.Tuple, { pop("TUPLE1") }, 1, 1)) end
  ops["\134"] = function()
    local b, a = pop("TUPLE2"), pop("TUPLE2")
    push(sequence(M.Tuple, { a, b }, 1, 2))
  end
  ops["\135"] = function()
    local c, b, a = pop("TUPLE3"), pop("TUPLE3"), pop("TUPLE3")
    push(sequence(M.Tuple, { a, b, c }, 1, 3))
  end

  while true do
    if pos > len then fail("the pickle ends without STOP") end
    local code = data:sub(pos, pos)
    pos = pos + 1
    if code == "." then break end -- STOP
    local op = ops[code]
    if op == nil then fail("pickle opcode 0x%02x at byte %d is not supported", code:byte(), pos - 2) end
    op()
  end
  if #marks > 0 or top ~= 1 then fail("the pickle leaves %d values on its stack", top) end
  return stack[1]
end

return M
