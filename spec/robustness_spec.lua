-- Bad input never crashes oml. Every public function and method (found by
-- walking the oml table, oml.Tensor and a Generator, so that a new op is
-- covered without editing this file) and the tensor syntax (t[k], t[k] = v,
-- arithmetic, #t, tostring) is called with each value of an adversarial
-- battery in each of its first four argument positions, the other
-- positions holding plausible arguments. Each call must return, or raise an
-- error that names an oml function ("oml.name: ...") at this file's line:
-- never a crash, a sanitizer report, or a raw message from the FFI or Lua
-- ("bad argument #2 to 'oml_xxx'", "attempt to index ...").
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local H = require "helper"

local here = debug.getinfo(1, "S").short_src

-- {label, value}: values of every Lua type, numbers at and beyond the
-- edges of int32/int64/double, and tensors of every odd kind. Fresh for
-- each function, since in-place methods write into them.
local function battery()
  local f = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
  return {
    { "nil", nil }, { "true", true }, { "false", false },
    { "''", "" }, { "'float64'", "float64" }, { "'cuda'", "cuda" }, { "'x'", "x" },
    { "{}", {} }, { "{1,2}", { 1, 2 } }, { "{{1}}", { { 1 } } }, { "{-1}", { -1 } }, { "{0.5}", { 0.5 } },
    { "{'a'}", { "a" } }, { "{dtype=}", { dtype = "float64" } }, { "{x=1}", { x = 1 } }, { "{f}", { f } },
    { "{2^62,2^62}", { 2 ^ 62, 2 ^ 62 } }, { "{nan}", { 0 / 0 } },
    { "0", 0 }, { "1", 1 }, { "2", 2 }, { "3", 3 }, { "-1", -1 }, { "-3", -3 }, { "0.5", 0.5 }, { "-0.5", -0.5 },
    { "2^45", 2 ^ 45 }, { "2^62", 2 ^ 62 }, { "2^63", 2 ^ 63 }, { "-2^63", -2 ^ 63 }, { "2^64", 2 ^ 64 },
    { "1e300", 1e300 }, { "inf", math.huge }, { "-inf", -math.huge }, { "nan", 0 / 0 },
    { "f[2,3]", f }, { "f 0-d", oml.tensor(2.5) },
    { "f[0]", oml.empty(0) }, { "f[2,0]", oml.empty(2, 0) }, { "f[0,3]", oml.empty(0, 3) },
    { "f transposed", f:t() }, { "f narrowed", f:narrow(2, 2, 2) },
    { "f expanded", oml.tensor { 1, 2, 3 }:expand(2, 3) },
    { "float64", oml.tensor({ { 1, 2 }, { 3, 4 } }, "float64") },
    { "float16", oml.tensor({ 1, 2, 3 }, "float16") }, { "bfloat16", oml.tensor({ 1, 2 }, "bfloat16") },
    { "bool", oml.tensor { { true, false, true }, { false, true, false } } },
    { "int32", oml.tensor({ 1, 2 }, "int32") }, { "int64", oml.tensor({ { 1, 2, 1 }, { 2, 1, 2 } }, "int64") },
    { "int64 out of range", oml.tensor({ 0, 7, -9 }, "int64") },
    { "uint8", oml.tensor({ 1, 255 }, "uint8") },
    { "unset", T.new() },
    { "int[3] cdata", ffi.new("int[3]") }, { "int64_t cdata", ffi.new("int64_t", 5) },
    { "NULL oml_tensor*", ffi.cast("oml_tensor *", nil) },
    { "generator", oml.Generator(1) }, { "function", print }, { "userdata", io.stdout },
    { "coroutine", coroutine.create(print) },
  }
end

-- Argument lists the battery value is put into, one position at a time:
-- shapes of the common signatures (t, dim, index, src), (sizes, opts), ...
local function bases()
  local f = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
  local index = oml.tensor({ { 1, 2, 1 } }, "int64")
  local mask = oml.tensor { { true, false, true }, { false, true, false } }
  return {
    { n = 0 },
    { n = 4, f, f, f, f },
    { n = 4, f, 1, f, f },
    { n = 4, f, 1, index, f },
    { n = 3, f, 2, 1 },
    { n = 3, f, { 1, 2 }, 1 },
    { n = 3, { 2, 3 }, 1, "float64" },
    { n = 4, 1, 2, 3, "float64" },
    { n = 3, f, -1, true },
    { n = 2, f, index },
    { n = 3, mask, f, f },
    { n = 3, { f, f }, 1 },
  }
end

-- Every public function once (oml.add and oml.Tensor.add are one), by name.
local function public_functions()
  local seen, list = {}, {}
  local function add(name, fn)
    if type(fn) == "function" and not seen[fn] then
      seen[fn] = true
      list[#list + 1] = { name = name, fn = fn }
    end
  end
  local names = {}
  for k in pairs(oml) do names[#names + 1] = k end
  for k in pairs(oml.Tensor) do names[#names + 1] = "Tensor." .. k end
  for k in pairs(oml.cuda) do names[#names + 1] = "cuda." .. k end
  table.sort(names)
  local g = oml.Generator(3)
  for _, name in ipairs(names) do
    local fn = oml[name]
    if name:match("^Tensor%.") then fn = oml.Tensor[name:sub(8)] end
    if name:match("^cuda%.") then fn = oml.cuda[name:sub(6)] end
    add(name, fn)
  end
  add("Generator.manual_seed", g.manual_seed)
  add("Generator.initial_seed", g.initial_seed)
  return list
end

-- The tensor syntax, as functions of (a, b, c). Each runs only when its
-- first operand (or, for arithmetic, either one) is a tensor: otherwise
-- it is plain Lua or the FFI's own pointer indexing, not oml.
local function syntax()
  local is_tensor = oml.is_tensor
  local function either(a, b) return is_tensor(a) or is_tensor(b) end
  return {
    { name = "t[k]", when = is_tensor, fn = function(t, k) local v = t[k]; return v end },
    { name = "t[k] = v", when = is_tensor, fn = function(t, k, v) t[k] = v end },
    { name = "t.field = v", when = is_tensor, fn = function(t, _, v) t.field = v end },
    { name = "t.property", when = is_tensor, fn = function(t) local v = t.shape; return v end },
    { name = "#t", when = is_tensor, fn = function(t) local v = #t; return v end },
    { name = "tostring(t)", when = is_tensor, fn = function(t) local v = tostring(t); return v end },
    { name = "-t", when = is_tensor, fn = function(t) local v = -t; return v end },
    { name = "a + b", when = either, fn = function(a, b) local v = a + b; return v end },
    { name = "a - b", when = either, fn = function(a, b) local v = a - b; return v end },
    { name = "a * b", when = either, fn = function(a, b) local v = a * b; return v end },
    { name = "a / b", when = either, fn = function(a, b) local v = a / b; return v end },
    { name = "a ^ b", when = either, fn = function(a, b) local v = a ^ b; return v end },
    { name = "a % b", when = either, fn = function(a, b) local v = a % b; return v end },
  }
end

-- Functions that change process-wide state, and how to put it back.
local saved_threads = oml.get_num_threads()
local saved_print = oml.set_printoptions {}
local RESTORE = {
  [oml.set_num_threads] = function() oml.set_num_threads(saved_threads) end,
  [oml.set_printoptions] = function() oml.set_printoptions(saved_print) end,
}

-- A message is clear when it names an oml function and points at the line
-- here that made the call.
local function clear(err)
  return type(err) == "string" and err:sub(1, #here + 1) == here .. ":" and err:match("^[^:]*:%d+: oml%.") ~= nil
end

-- The argument lists of bases() cut to the arguments fn takes (all for a
-- vararg function), without repeats.
local function bases_for(fn)
  local info = debug.getinfo(fn, "u")
  local arity = info.isvararg and 4 or info.nparams
  local list, seen = {}, {}
  for _, base in ipairs(bases()) do
    local cut = { n = math.min(base.n, arity) }
    local key = {}
    for i = 1, cut.n do
      cut[i] = base[i]
      key[i] = tostring(base[i])
    end
    key = table.concat(key, "|")
    if not seen[key] then
      seen[key] = true
      list[#list + 1] = cut
    end
  end
  return list, arity
end

-- Calls entry.fn with every battery value in every position it takes, the
-- others from each base; returns the unclear errors, one line each (the
-- first per message).
local function sweep(entries)
  local bad, seen = {}, {}
  for _, entry in ipairs(entries) do
    local values = battery()
    local list, arity = bases_for(entry.fn)
    for b, base in ipairs(list) do
      for pos = 1, arity do
        for _, value in ipairs(values) do
          local args = { base[1], base[2], base[3], base[4] }
          args[pos] = value[2]
          if entry.when == nil or entry.when(args[1], args[2]) then
            local ok, err = pcall(entry.fn, unpack(args, 1, math.max(base.n, pos)))
            if RESTORE[entry.fn] then RESTORE[entry.fn]() end
            if not ok and not clear(err) then
              local key = entry.name .. ": " .. tostring(err):gsub("^[^:]*:%d+: ", "")
              if not seen[key] then
                seen[key] = true
                bad[#bad + 1] = ("%s with base %d, argument %d = %s: %s"):format(entry.name, b, pos, value[1],
                                                                                tostring(err))
              end
            end
          end
        end
      end
    end
    if arity == 0 then
      local ok, err = pcall(entry.fn)
      if not ok and not clear(err) then bad[#bad + 1] = ("%s(): %s"):format(entry.name, tostring(err)) end
    end
  end
  return bad
end

describe("bad arguments", function()
  local generator = T.C.oml_default_generator()
  local seed, offset

  setup(function()
    seed, offset = generator.seed_, generator.offset_
  end)

  teardown(function()
    generator.seed_, generator.offset_ = seed, offset
  end)

  it("never crash a public function or method, and raise oml.name errors at the caller's line", function()
    local bad = sweep(public_functions())
    assert(#bad == 0, #bad .. " unclear errors:\n" .. table.concat(bad, "\n", 1, math.min(#bad, 40)))
  end)

  it("never crash the tensor syntax", function()
    local bad = sweep(syntax())
    assert(#bad == 0, #bad .. " unclear errors:\n" .. table.concat(bad, "\n", 1, math.min(#bad, 40)))
  end)
end)

describe("argument checks", function()
  local f = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
  local null = ffi.cast("oml_tensor *", nil)

  it("refuse a non-tensor self in every method", function()
    H.raises(function() local _ = oml.contiguous(nil) end, "oml.contiguous: the input must be a tensor (got nil)")
    H.raises(function() local _ = oml.Tensor.dim(3) end, "oml.dim: the input must be a tensor (got number)")
    H.raises(function() local _ = oml.Tensor.size("x") end, "oml.size: the input must be a tensor (got string)")
    H.raises(function() local _ = oml.view({}, 2) end, "oml.view: the input must be a tensor (got table)")
    H.raises(function() local _ = oml.clone(true) end, "oml.clone: the input must be a tensor (got boolean)")
    H.raises(function() local _ = oml.totable(1) end, "oml.totable: the input must be a tensor (got number)")
    local g = oml.Generator(1)
    H.raises(function() local _ = g.manual_seed(5) end,
             "oml.Generator.manual_seed: expects an oml.Generator (got number)")
    H.raises(function() local _ = g.initial_seed() end, "oml.Generator.initial_seed: expects an oml.Generator (got nil)")
  end)

  it("treat a pointer to oml_tensor as no tensor, NULL or not", function()
    assert.is_false(oml.is_tensor(null))
    assert.is_false(oml.is_tensor(ffi.cast("oml_tensor *", f)))
    assert.is_true(oml.is_tensor(f))
    assert.equal("oml_tensor pointer: NULL", tostring(null))
    H.raises(function() local _ = #null end, "oml.Tensor: a pointer to oml_tensor is not a tensor")
    H.raises(function() local _ = null.shape end, "oml.Tensor: a pointer to oml_tensor is not a tensor")
    H.raises(function() local _ = null:sum() end, "oml.sum: the input must be a tensor (got cdata)")
    H.raises(function() local _ = f + null end, "oml.add: expected tensors or numbers (got tensor and cdata)")
    H.raises(function() local _ = f:clamp(null) end, "oml.clamp: bounds must be numbers or nil (got cdata and nil)")
    H.raises(function() local _ = oml.empty(2):uniform_(0, 1, null) end,
             "oml.uniform_: the generator must be an oml.Generator (got cdata)")
  end)

  it("refuse integers that int64 cannot hold, inf and NaN", function()
    H.raises(function() local _ = oml.zeros(2, 2 ^ 63) end, "oml.zeros: size 2 must be a non-negative integer (got 9.2233720368548e+18)")
    H.raises(function() local _ = oml.zeros(math.huge) end, "oml.zeros: size 1 must be a non-negative integer (got inf)")
    H.raises(function() local _ = f:view(2, 0 / 0) end, "oml.view: size 2 must be an integer (got nan)")
    H.raises(function() local _ = f:narrow(2, 1.5, 1) end, "oml.narrow: start must be an integer (got 1.5)")
    H.raises(function() local _ = f:narrow(2, 1, math.huge) end, "oml.narrow: length must be an integer (got inf)")
    H.raises(function() local _ = f:select(1, -math.huge) end, "oml.select: index must be an integer (got -inf)")
    H.raises(function() local _ = f:sum(math.huge) end, "oml.sum: dim must be an integer (got inf)")
    H.raises(function() local _ = f:topk(math.huge) end, "oml.topk: k must be an integer (got inf)")
    H.raises(function() local _ = oml.linspace(0, 1, math.huge) end, "oml.linspace: steps must be an integer (got inf)")
    H.raises(function() local _ = oml.eye(2 ^ 64) end, "oml.eye: n must be a non-negative integer")
    H.raises(function() local _ = f:chunk(math.huge) end, "oml.chunk: the number of chunks must be a positive integer (got inf)")
    H.raises(function() local _ = f:index_select(1, { math.huge }) end, "oml.index_select: index entries must be integers (got inf)")
    H.raises(function() local _ = f[math.huge] end, "oml.Tensor: an index must be an integer (got inf)")
    H.raises(function() oml.set_num_threads(2 ^ 31) end, "oml.set_num_threads: n must be a positive integer")
    H.raises(function() local _ = oml.memory(2 ^ 31) end, "oml.memory: unknown device 2147483648")
    H.raises(function() local _ = oml.memory("cuda:99999999999") end, "oml.memory: unknown device cuda:99999999999")
  end)

  it("refuse Lua values beyond an integer dtype's range", function()
    -- torch 1.13: torch.tensor([1e300], dtype=torch.int64) raises "value cannot be converted"
    H.raises(function() local _ = oml.tensor({ 1, 1e300 }, "int64") end, "oml.tensor: element data[2] (1e+300) does not fit int64")
    H.raises(function() local _ = oml.tensor({ 0 / 0 }, "int32") end, "oml.tensor: element data[1] (nan) does not fit int32")
    H.raises(function() local _ = oml.tensor({ 256 }, "uint8") end, "oml.tensor: element data[1] (256) does not fit uint8")
    H.raises(function() local _ = oml.tensor({ -1 }, "uint8") end, "oml.tensor: element data[1] (-1) does not fit uint8")
    assert.same({ 1, -2, 255 }, oml.tensor({ 1.7, -2.5, 255 }, "int64"):totable()) -- truncates, as PyTorch
    assert.same({ true, true }, oml.tensor({ 1e300, 0 / 0 }, "bool"):totable())
  end)

  it("refuse unknown options and misplaced arguments instead of ignoring them", function()
    H.raises(function() local _ = oml.zeros(2, { dtyp = "float64" }) end, "oml.zeros: unknown option 'dtyp'")
    H.raises(function() local _ = oml.ones_like(f, { dtype = "int64", devise = "cpu" }) end, "oml.ones_like: unknown option 'devise'")
    H.raises(function() local _ = f:to { dtype = "int64", x = 1 } end, "oml.to: unknown option 'x'")
    H.raises(function() local _ = oml.arange(5, true) end, "oml.arange: start, stop and step must be numbers (got 5, true and 1)")
    H.raises(function() local _ = oml.arange(nil, 3) end, "oml.arange: start, stop and step must be numbers (got nil, 3 and 1)")
    H.raises(function() local _ = oml.zeros(2, nil, 3) end, "oml.zeros: size 2 must be a non-negative integer (got nil)")
    H.raises(function() local _ = f:permute { 2, nil, 1 } end, "oml.permute")
    H.raises(function() local _ = f:cuda {} end, "oml.cuda: the device number must be a non-negative integer (got table)")
    H.raises(function() local _ = oml.full_like(f, 1, 5) end, "oml.full_like: options must be a dtype or a table (got number)")
    H.raises(function() local _ = oml.full_like(f, "x") end, "oml.full_like: the value must be a number (got string)")
    H.raises(function() local _ = f:add(f, "x") end, "oml.add: alpha must be a number (got string)")
    H.raises(function() local _ = f:sum({ 1, 1 }) end, "oml.sum: dim 1 appears more than once in the list of dims")
    H.raises(function() local _ = f:size(f) end, "oml.size: dim must be an integer (got a float32 tensor of size [2,3])")
    H.raises(function() local _ = T.new():scatter_(1, { { 1 } }, 1) end, "oml.scatter_: the input is an unset tensor")
    H.raises(function() local _ = T.new()[1] end, "oml.Tensor: the tensor is an unset tensor")
  end)

  it("accept trailing nils and an empty options table", function()
    assert.same({ 2, 3 }, oml.zeros(2, 3, nil):size())
    assert.same({ 2 }, oml.zeros(2, {}):size())
    assert.same({ 2 }, oml.rand({ 2 }, {}):size())
    assert.same({ 0, 0 }, oml.full({ 2 }, 0, {}):totable())
  end)

  it("cap the chunks of an empty dim", function()
    assert.equal(3, #oml.empty(0):chunk(3))
    H.raises(function() local _ = oml.empty(0):chunk(2 ^ 45) end, "oml.chunk: 35184372088832 empty chunks are too many")
  end)
end)

describe("errors from a file whose name starts like oml's directory", function()
  it("still point at that file", function()
    local dir = package.searchpath("oml.tensor", package.path):match("^(.*)/[^/]*$")
    local fn = loadstring("local oml = ...; local _ = oml.zeros(-1)", "@" .. dir .. "_user.lua")
    local ok, err = pcall(fn, oml)
    assert.is_false(ok)
    assert.equal(dir .. "_user.lua:1: oml.zeros: size 1 must be a non-negative integer (got -1)", err)
  end)
end)
