-- oml.io.torch_checkpoint (with oml.io.zip and oml.io.pickle): PyTorch
-- checkpoints load to the values torch saved; hostile and broken files are
-- refused with a clear error and run nothing.
local oml = require "oml"
local ck = require "oml.io.torch_checkpoint"
local pickle = require "oml.io.pickle"
local H = require "helper"

-- made by spec/fixtures/checkpoints/make_checkpoints.py (torch 1.13); the
-- values below are the ones that script saves
local DIR = "spec/fixtures/checkpoints/"

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function load(name)
  return ck.load(DIR .. name)
end

-- a pickle's value, or the `what` of its error
local function unpickle(bytes, hooks)
  local ok, value = pcall(pickle.load, bytes, hooks or {})
  if ok then return value end
  assert(type(value) == "table", tostring(value))
  return nil, value.what
end

local function le32(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216))
end

local function str(s)
  return "X" .. le32(#s) .. s
end

describe("torch checkpoints", function()
  describe("load", function()
    it("reads every storage dtype to the saved values", function()
      local t = load("dtypes.pth")
      assert.same({ "bf16", "bool", "empty", "f16", "f32", "f64", "i32", "i64", "scalar", "u8" }, keys(t))
      local dtypes = { f32 = "float32", f16 = "float16", bf16 = "bfloat16", i64 = "int64", i32 = "int32",
                       f64 = "float64", u8 = "uint8", bool = "bool", scalar = "float32", empty = "float32" }
      for name, dtype in pairs(dtypes) do
        assert.equal(dtype, t[name].dtype, name)
        assert.is_true(t[name]:is_contiguous(), name)
      end
      assert.same({ { -1, -0.5, 0 }, { 0.5, 1, 1.5 } }, t.f32:totable())
      assert.same({ 0.5, -2, 65504 }, t.f16:totable())
      -- torch 1.13: torch.tensor(3.0e38, dtype=torch.bfloat16).item() == 3.00405527047391e+38
      H.close(t.bf16, { { 1.5, -0.25 }, { 3.00405527047391e+38, 0 } }, 1e-14)
      assert.same({ -3, 0, 2 ^ 40 }, t.i64:totable())
      assert.same({ -7, 7 }, t.i32:totable())
      assert.same({ 0.1, -1e300 }, t.f64:totable())
      assert.same({ 0, 255 }, t.u8:totable())
      assert.same({ true, false, true }, t.bool:totable())
      assert.same({}, t.scalar:size())
      assert.equal(3.5, t.scalar:item())
      assert.same({ 0, 3 }, t.empty:size())
    end)

    it("copies saved views (strides, storage offsets, stride 0) into contiguous tensors", function()
      local t = load("views.pth")
      local base = { { 0, 1, 2, 3 }, { 4, 5, 6, 7 }, { 8, 9, 10, 11 } }
      assert.same(base, t.base:totable())
      assert.same({ { 0, 4, 8 }, { 1, 5, 9 }, { 2, 6, 10 }, { 3, 7, 11 } }, t.transposed:totable())
      assert.same({ { 1, 2 }, { 5, 6 }, { 9, 10 } }, t.narrowed:totable())
      assert.same({ 8, 9, 10, 11 }, t.row:totable())
      assert.same({ { 1, 1, 1 }, { 2, 2, 2 } }, t.expanded:totable())
      for name, u in pairs(t) do assert.is_true(u:is_contiguous(), name) end
      -- each is its own copy, though torch saved them over one storage
      t.base:fill(-1)
      assert.same({ 8, 9, 10, 11 }, t.row:totable())
    end)

    it("unwraps a state_dict beside other entries and strips module. and backbone.", function()
      local t = load("nested.pth")
      assert.same({ "b", "w" }, keys(t))
      assert.same({ { 1, 2 }, { 3, 4 } }, t.w:totable())
      assert.equal("int64", t.b.dtype)
      assert.same({ -1, 1 }, t.b:totable())
    end)

    it("takes the teacher of a DINO-style checkpoint", function()
      local t = load("teacher.pth")
      assert.same({ "head", "tail" }, keys(t))
      assert.same({ 1 }, t.head:totable())
      assert.same({ 2 }, t.tail:totable())
    end)

    it("reads a module's state dict (an OrderedDict with _metadata) under model", function()
      local t = load("module.pth")
      assert.same({ "bias", "weight" }, keys(t))
      assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t.weight:totable())
      assert.same({ 0.5, -0.5 }, t.bias:totable())
    end)

    it("are what oml.load reads for .pth and .pt paths", function()
      local direct = require("oml.io.torch_checkpoint").load(DIR .. "nested.pth")
      local loaded = oml.load(DIR .. "nested.pth")
      for name, t in pairs(direct) do H.close(loaded[name], t, 0) end
      H.raises(function() local _ = oml.load(DIR .. "missing.pt") end, "oml.load: " .. DIR .. "missing.pt")
    end)

    it("reads a bare Parameter as its data", function()
      assert.same({ 7, 8 }, load("parameter.pth").p:totable())
    end)

    it("gives tensors that oml ops use like any other", function()
      local t = load("module.pth")
      H.close(oml.matmul(t.weight, oml.ones(3)) + t.bias, { 6.5, 14.5 })
    end)
  end)

  describe("refuses", function()
    local MARKER = "/tmp/oml_checkpoint_spec_pwned" -- what malicious.pth's os.system would create

    it("a pickle calling os.system, before anything runs", function()
      os.remove(MARKER)
      H.raises(function() local _ = load("malicious.pth") end,
        "oml.load: " .. DIR .. "malicious.pth: the pickle names the global 'os.system', which is not allowed")
      assert.is_nil(io.open(MARKER, "r"))
    end)

    it("any global outside the allow-list", function()
      H.raises(function() local _ = load("builtins.pth") end,
        "builtins.pth: the pickle names the global 'builtins.eval', which is not allowed")
    end)

    it("an opcode outside the supported set", function()
      H.raises(function() local _ = load("opcode.pth") end, "opcode.pth: pickle opcode 0x49 at byte 10 is not supported")
    end)

    it("compressed entries", function()
      H.raises(function() local _ = load("compressed.pth") end,
        "compressed.pth: entry 'archive/data.pkl' is compressed (method 8); oml reads only stored entries")
    end)

    it("truncated files and wrong CRCs", function()
      H.raises(function() local _ = load("truncated.pth") end,
        "truncated.pth: not a zip archive (no end of central directory record)")
      H.raises(function() local _ = load("bad_crc.pth") end, "bad_crc.pth: entry 'dtypes/data/0' fails its CRC-32 check")
    end)

    it("views outside their storage, absurd sizes and missing storages", function()
      H.raises(function() local _ = load("outside.pth") end,
        "outside.pth: a tensor in storage '0': the view reaches outside its storage of 2 elements")
      H.raises(function() local _ = load("short_storage.pth") end,
        "short_storage.pth: storage '0' holds 8 bytes, but 1125899906842624 float32 elements need 4503599627370496")
      H.raises(function() local _ = load("huge_view.pth") end, "huge_view.pth: a tensor in storage '0': out of memory")
      H.raises(function() local _ = load("no_storage.pth") end, "no_storage.pth: the archive has no entry 'archive/data/0'")
    end)

    it("bool bytes other than 0 and 1, and a storage declared with two types", function()
      H.raises(function() local _ = load("bad_bool.pth") end,
        "bad_bool.pth: bool storage '0' holds a byte other than 0 and 1")
      H.raises(function() local _ = load("conflicting_storage.pth") end,
        "conflicting_storage.pth: storage '0' is declared twice, differently")
    end)

    it("the legacy format of torch before 1.6", function()
      H.raises(function() local _ = load("legacy.pth") end,
        "legacy.pth: the legacy torch.save format (before torch 1.6) is not supported")
    end)

    it("a dict that holds itself", function()
      H.raises(function() local _ = load("cycle.pth") end, "cycle.pth: the checkpoint's dicts hold themselves")
    end)

    it("entries that are not tensors, several state dicts and keys that are not strings", function()
      H.raises(function() local _ = load("not_tensor.pth") end,
        "not_tensor.pth: entry 'epoch' of the checkpoint holds a number, not a tensor")
      H.raises(function() local _ = load("two_state_dicts.pth") end,
        "two_state_dicts.pth: the checkpoint holds several state dicts ('state_dict' and 'model')")
      H.raises(function() local _ = load("int_key.pth") end,
        "int_key.pth: the state dict has a key that is not a string (1)")
    end)

    it("a pickle that holds no dict of tensors", function()
      H.raises(function() local _ = load("toplevel.pth") end, "toplevel.pth: the checkpoint holds a list, not a dict of tensors")
    end)

    it("files that are not checkpoints, missing files, directories and bad paths", function()
      H.raises(function() local _ = load("make_checkpoints.py") end, "make_checkpoints.py: not a zip archive")
      H.raises(function() local _ = load("missing.pth") end, "missing.pth: cannot open: No such file or directory")
      H.raises(function() local _ = ck.load("spec") end, "oml.load: spec: cannot read: Is a directory")
      H.raises(function() local _ = ck.load(42) end, "oml.load: the path must be a string (got number)")
    end)
  end)

  describe("the unpickler", function()
    it("reads lists, tuples, numbers, strings, None, booleans and the memo", function()
      local value = unpickle("\128\2]q\0(K\1M\2\1J" .. le32(2 ^ 32 - 5) .. "\138\2\0\128\138\0G\63\240\0\0\0\0\0\0"
        .. "\140\2hiN\136\137)K\7\133h\0\134e.")
      assert.equal(pickle.List, getmetatable(value))
      assert.equal(12, value.n)
      assert.same({ 1, 258, -5, -32768, 0, 1, "hi" }, { unpack(value, 1, 7) })
      assert.equal(pickle.NONE, value[8])
      assert.is_true(value[9])
      assert.is_false(value[10])
      assert.equal(0, value[11].n)
      assert.equal(7, value[12][1][1])
      assert.equal(value, value[12][2]) -- BINGET gives the memoized list itself
    end)

    it("builds tuples of every arity and dicts item by item", function()
      local value = unpickle("\128\2}K\1)sK\2K\1\133sK\3K\1K\2\134sK\4K\1K\2K\3\135sK\5(K\1K\2K\3K\4tsK\6]K\9as.")
      assert.equal(pickle.Dict, getmetatable(value))
      for n = 0, 4 do
        assert.equal(pickle.Tuple, getmetatable(value[n + 1]))
        assert.equal(n, value[n + 1].n)
      end
      assert.same({ 1, 2, 3, 4 }, { unpack(value[5], 1, 4) })
      assert.equal(9, value[6][1])
    end)

    it("refuses broken pickles with the reason", function()
      local cases = {
        { "\128\2", "the pickle ends without STOP" },
        { "\128\2X\9\0\0\0ab.", "the pickle ends inside a string" },
        { "\128\2s.", "SETITEM on an empty stack" },
        { "\128\2K\1K\2.", "the pickle leaves 2 values on its stack" },
        { "\128\2h\3.", "BINGET of memo 3, which is empty" },
        { "\128\2t.", "TUPLE without a MARK" },
        { "\128\2]K\1K\2s.", "SETITEM on a list" },
        { "\128\2K\1)R.", "REDUCE of a number" },
        { "\128\2ctorch\nFloatStorage\n)R.", "REDUCE of torch.FloatStorage is not supported" },
        { "\128\2ccollections\nOrderedDict\nK\1\133R.", "REDUCE of collections.OrderedDict with arguments" },
        { "\128\5.", "pickle protocol 5 is not supported" },
        { "\128\2\149\0\0\0\0\0\0\0\0.", "pickle opcode 0x95 at byte 2 is not supported" }, -- FRAME
        { "\128\2cos\nsystem\n" .. str("true") .. "\133R.", "the global 'os.system', which is not allowed" },
        { "\128\2}]K\1s.", "a dict key of type list is not supported" },
      }
      for _, case in ipairs(cases) do
        local value, what = unpickle(case[1])
        assert.is_nil(value, case[2])
        assert.truthy(what:find(case[2], 1, true), ("expected '%s', got '%s'"):format(case[2], what))
      end
    end)

    it("refuses a hostile global before reaching any hook", function()
      local called = false
      local hooks = { persistent_load = function() called = true end, reduce = function() called = true end }
      unpickle("\128\2(" .. str("storage") .. "tQcposix\nsystem\n" .. str("true") .. "\133R.", hooks)
      assert.is_true(called) -- the storage reference came first
      called = false
      local _, what = unpickle("\128\2cposix\nsystem\n(" .. str("storage") .. "tQ\133R.", hooks)
      assert.is_false(called)
      assert.equal("the pickle names the global 'posix.system', which is not allowed", what)
    end)
  end)
end)
