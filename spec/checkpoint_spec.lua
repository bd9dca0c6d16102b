-- oml.io.torch_checkpoint (with oml.io.zip and oml.io.pickle): PyTorch
-- checkpoints load to the values torch saved; hostile and broken files are
-- refused with a clear error and run nothing.
local ffi = require "ffi"
local oml = require "oml"
local ck = require "oml.io.torch_checkpoint"
local pickle = require "oml.io.pickle"
local zip = require "oml.io.zip"
local zlib = require "oml.io.zlib"
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

local function le16(n)
  return string.char(n % 256, math.floor(n / 256))
end

-- A zip archive of the entries ({ name, bytes } each), stored, as a string:
-- local headers and bytes, the central directory, its end record.
local function stored_zip(entries)
  local parts, records, offset = {}, {}, 0
  for _, e in ipairs(entries) do
    local name, data = e[1], e[2]
    local crc = zlib.crc32_zlib(ffi.cast("const uint8_t *", data), #data)
    -- version, flags, method (stored), time and date; then CRC, sizes, name length
    local fields = le16(20) .. le16(0) .. le16(0) .. le32(0) .. le32(crc) .. le32(#data) .. le32(#data) .. le16(#name)
    parts[#parts + 1] = "PK\3\4" .. fields .. le16(0) .. name .. data
    -- made by, ..., extra, comment, disk, attributes, offset of the local header
    records[#records + 1] = "PK\1\2" .. le16(20) .. fields .. le16(0) .. le16(0) .. le16(0) .. le16(0) .. le32(0)
                            .. le32(offset) .. name
    offset = offset + #parts[#parts]
  end
  local directory = table.concat(records)
  return table.concat(parts) .. directory .. "PK\5\6" .. le16(0) .. le16(0) .. le16(#entries) .. le16(#entries)
         .. le32(#directory) .. le32(offset) .. le16(0)
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

    it("gives each of two whole views of one storage its own memory", function()
      local t = load("shared.pth")
      assert.same({ 0, 1, 2, 3 }, t.flat:totable())
      assert.same({ { 0, 1 }, { 2, 3 } }, t.square:totable())
      t.flat:fill(-1)
      assert.same({ { 0, 1 }, { 2, 3 } }, t.square:totable())
      t.square:fill(-2)
      assert.same({ -1, -1, -1, -1 }, t.flat:totable())
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

    it("entries that overlap, run into the directory or past the file, or are named twice", function()
      -- each of these loaded, before oml.io.zip checked where entries lie
      H.raises(function() local _ = load("overlap.pth") end,
        "overlap.pth: entries 'archive/data/0' and 'archive/data/1' overlap")
      H.raises(function() local _ = load("into_directory.pth") end,
        "into_directory.pth: entry 'archive/version' overlaps the central directory")
      H.raises(function() local _ = load("past_end.pth") end,
        "past_end.pth: entry 'archive/version' (bytes 497 to 2147484145) lies outside the file (764 bytes)")
      H.raises(function() local _ = load("duplicate.pth") end,
        "duplicate.pth: the archive holds entry 'archive/data/0' twice")
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

  describe("the zip reader", function()
    local dir
    before_each(function() dir = H.tempdir() end)
    after_each(function() H.sh("rm -rf " .. dir) end)

    local function write(name, s) return H.write_file(dir, name, s) end

    -- what fn raises, as oml.io.zip raises it
    local function what(fn, ...)
      local ok, err = pcall(fn, ...)
      assert(not ok and type(err) == "table", tostring(err))
      return err.what
    end

    -- 3 MB and a few bytes, no two chunks of the CRC alike
    local big = {}
    for i = 1, 3 * 2 ^ 12 + 1 do big[i] = ("%07d "):format(i):rep(64) end
    big = table.concat(big):sub(1, 3 * 2 ^ 20 + 5)

    it("copies an entry across the chunks its CRC is checked in, and reads one as a string", function()
      local archive = zip.open(write("a.zip", stored_zip { { "empty", "" }, { "big", big }, { "small", "abc" } }))
      assert.same({ "empty", "big", "small" }, archive.names)
      assert.is_true(zip.has(archive, "big"))
      assert.is_false(zip.has(archive, "other"))
      assert.equal(#big, zip.size(archive, "big"))
      local buf = ffi.new("uint8_t[?]", #big)
      zip.copy(archive, "big", buf)
      assert.is_true(ffi.string(buf, #big) == big)
      assert.equal("abc", zip.read(archive, "small"))
      assert.equal("", zip.read(archive, "empty"))
      zip.copy(archive, "empty", nil)
      zip.close(archive)
    end)

    it("refuses an entry whose last chunk fails its CRC", function()
      local bytes = stored_zip { { "big", big } }
      local flip = 30 + 3 + #big -- the last byte of the entry
      local archive = zip.open(write("bad.zip", bytes:sub(1, flip - 1) .. "\0" .. bytes:sub(flip + 1)))
      local buf = ffi.new("uint8_t[?]", #big)
      assert.equal("entry 'big' fails its CRC-32 check", what(zip.copy, archive, "big", buf))
      assert.equal("entry 'big' fails its CRC-32 check", what(zip.read, archive, "big"))
      zip.close(archive)
    end)

    it("refuses empty files, a corrupt local header and a missing entry", function()
      assert.equal("not a zip archive (no end of central directory record)", what(zip.open, write("empty", "")))
      local bytes = stored_zip { { "x", "abc" } }
      assert.equal("the local header of entry 'x' is corrupt", what(zip.open, write("header", "PK\3\0" .. bytes:sub(5))))
      local archive = zip.open(write("x.zip", bytes))
      assert.equal("the archive has no entry 'y'", what(zip.size, archive, "y"))
      zip.close(archive)
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
