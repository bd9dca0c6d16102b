-- oml.io.safetensors: round trips, files written elsewhere, byte-exact
-- output, broken files, and atomic writes.
local ffi = require "ffi"
local oml = require "oml"
local st = require "oml.io.safetensors"
local T = require "oml.tensor"
local H = require "helper"

local FIXTURES = "spec/fixtures/safetensors/" -- made by spec/fixtures/make_safetensors.py

local sh, read_bytes = H.sh, H.read_bytes
local workdir = H.tempdir()
local count = 0
local function temp_path()
  count = count + 1
  return ("%s/t%d.safetensors"):format(workdir, count)
end

local function write_bytes(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
  return path
end

-- hidden names too: that is where temporary files go
local listing = H.files_in

local function le_u64(n)
  local bytes = {}
  for i = 1, 8 do
    bytes[i] = n % 256
    n = math.floor(n / 256)
  end
  return string.char(unpack(bytes))
end

-- a file with this header text and data, written as it is
local function raw_file(header, data)
  return write_bytes(temp_path(), le_u64(#header) .. header .. (data or ""))
end

-- the element bytes of a tensor, row-major
local function bytes(t)
  t = t:cpu():contiguous()
  if t:numel() == 0 then return "" end
  return ffi.string(t.data_, t:numel() * t:element_size())
end

local function int64s(t)
  local p, out = ffi.cast("int64_t *", t.data_), {}
  for i = 1, t:numel() do out[i] = p[i - 1] end
  return out
end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local DTYPES = { "float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool" }

-- a tensor of dtype and shape with distinct values (exact in every dtype)
local function sample(dtype, shape)
  local n = 1
  for _, size in ipairs(shape) do n = n * size end
  if n == 0 then return oml.empty(shape, dtype) end
  local values = {}
  for i = 1, n do
    local v = (i * 7) % 23
    if dtype == "bool" then values[i] = v % 2 == 1
    elseif dtype == "uint8" or dtype:match("^int") then values[i] = dtype == "uint8" and v or v - 11
    else values[i] = (v - 11) / 4 end
  end
  return oml.tensor(values, dtype):view(shape)
end

describe("safetensors", function()
  teardown(function() sh("chmod -R u+w " .. workdir .. " && rm -rf " .. workdir) end)

  describe("round trips", function()
    it("keep every dtype and shape, 0-d and empty ones too", function()
      for _, dtype in ipairs(DTYPES) do
        local tensors = {}
        for i, shape in ipairs { {}, { 5 }, { 2, 3 }, { 2, 1, 3 }, { 0 }, { 3, 0, 2 }, { 1, 1, 1, 1, 1, 1, 1, 2 } } do
          tensors["t" .. i] = sample(dtype, shape)
        end
        local path = temp_path()
        st.save(path, tensors)
        local loaded = st.load(path)
        assert.same(keys(tensors), keys(loaded))
        for name, t in pairs(tensors) do
          local u = loaded[name]
          assert.equal(dtype, u.dtype, name)
          assert.equal("cpu", u.device)
          assert.same(t:size(), u:size(), name)
          assert.is_true(u:is_contiguous())
          assert.equal(bytes(t), bytes(u), dtype .. " " .. name)
        end
      end
    end)

    it("write non-contiguous tensors as their contiguous values", function()
      local m = oml.arange(24):view(4, 6):double()
      local views = {
        transposed = m:t(),
        narrowed = m:narrow(2, 2, 3),
        selected = m:select(2, 4),
        expanded = oml.tensor({ 1, 2, 3 }, "int64"):view(3, 1):expand(3, 4), -- stride 0
        permuted = oml.arange(24):view(2, 3, 4):half():permute(3, 1, 2),
      }
      local path = temp_path()
      st.save(path, views)
      local loaded = st.load(path)
      for name, t in pairs(views) do
        assert.is_false(t:is_contiguous(), name)
        assert.same(t:size(), loaded[name]:size())
        assert.same(t:totable(), loaded[name]:totable(), name)
      end
      assert.same({ { 1, 1, 1, 1 }, { 2, 2, 2, 2 }, { 3, 3, 3, 3 } }, loaded.expanded:totable())
    end)

    it("keep the metadata, string to string", function()
      local path = temp_path()
      local metadata = { format = "pt", epoch = "12", note = "été → 漢", [""] = "", quote = 'a "b" \\ \n\t\1' }
      st.save(path, { w = oml.ones(2) }, metadata)
      local tensors, back = st.load(path)
      assert.same(metadata, back)
      H.close(tensors.w, { 1, 1 })
    end)

    it("give empty metadata for a file without any, and write none for nil or {}", function()
      local a, b = temp_path(), temp_path()
      st.save(a, { w = oml.ones(2) })
      st.save(b, { w = oml.ones(2) }, {})
      assert.equal(read_bytes(a), read_bytes(b))
      assert.is_nil(read_bytes(a):find("__metadata__", 1, true))
      local _, metadata = st.load(a)
      assert.same({}, metadata)
    end)

    it("keep names that JSON must escape, and names with dots and slashes", function()
      local names = { 'a"b', "back\\slash", "new\nline", "ctl\1\31", "ünï/cödé.0", "", "del\127" }
      local tensors = {}
      for i, name in ipairs(names) do tensors[name] = oml.full({ 1 }, i) end
      local path = temp_path()
      st.save(path, tensors)
      local loaded = st.load(path)
      for i, name in ipairs(names) do H.close(loaded[name], { i }) end
      -- serde_json's escapes: \u00XX in lower case for the other control bytes, DEL as it is
      assert.truthy(read_bytes(path):find('"ctl\\u0001\\u001f"', 1, true))
      assert.truthy(read_bytes(path):find('"del\127"', 1, true))
    end)

    it("save the values of a 0-element view without reading its memory", function()
      local path = temp_path()
      st.save(path, { e = oml.ones(3, 4):narrow(1, 2, 0) })
      assert.same({ 0, 4 }, st.load(path).e:size())
    end)

    it("replace an existing file and leave no temporary file", function()
      local path = temp_path()
      st.save(path, { w = oml.zeros(3) })
      st.save(path, { v = oml.ones(2) })
      assert.same({ "v" }, keys(st.load(path)))
      for _, name in ipairs(listing(workdir)) do assert.is_nil(name:find("tmp", 1, true), name) end
    end)

    it("save under a name of the longest length a file system allows", function()
      local path = workdir .. "/" .. ("n"):rep(243) .. ".safetensors" -- 255 bytes
      st.save(path, { w = oml.ones(2) })
      H.close(st.load(path).w, { 1, 1 })
      os.remove(path)
    end)

    it("load onto the device asked for", function()
      local path = temp_path()
      st.save(path, { w = oml.ones(2) })
      assert.equal("cpu", st.load(path, { device = "cpu" }).w.device)
      H.raises(function() local _ = st.load(path, { dtype = "float64" }) end, "oml.load: unknown option 'dtype'")
      H.raises(function() local _ = st.load(path, "float64") end, "oml.load: the options must be a table (got string)")
    end)

    it("round-trip a 64 MiB tensor", function()
      local n = 16 * 1024 * 1024 -- float32 values 0 .. 2^24 - 1 are exact
      local big = oml.arange(n, { dtype = "float32" })
      local path = temp_path()
      st.save(path, { big = big, small = oml.ones(3) })
      local loaded = st.load(path)
      assert.same({ n }, loaded.big:size())
      assert.is_true(bytes(big) == bytes(loaded.big))
      assert.equal(n - 1, loaded.big[n])
      os.remove(path)
    end)
  end)

  describe("files written by the fixture script", function()
    -- the values set in spec/fixtures/make_safetensors.py (torch 1.13 rounds
    -- them to each dtype: torch.tensor(1/3, dtype=torch.float16).item() is
    -- 0.333251953125, in bfloat16 0.333984375; float32 0.1 is 0.10000000149011612)
    it("read the reference writer's layout to the pinned values", function()
      local tensors, metadata = st.load(FIXTURES .. "reference_layout.safetensors")
      assert.same({ format = "pt" }, metadata)
      assert.same({ "bf16", "bool", "empty", "empty_i64", "f16", "f32", "f64", "i32", "i64", "scalar", "u8" },
                  keys(tensors))
      local dtypes = { f32 = "float32", f64 = "float64", f16 = "float16", bf16 = "bfloat16", i32 = "int32",
                       i64 = "int64", u8 = "uint8", bool = "bool", scalar = "float32", empty = "float32",
                       empty_i64 = "int64" }
      for name, dtype in pairs(dtypes) do assert.equal(dtype, tensors[name].dtype, name) end
      H.close(tensors.f32, { { 1.5, -2.25, 0.10000000149011612 }, { math.huge, -math.huge, 0 / 0 } }, 0)
      H.close(tensors.f64, { math.pi, -1e300, 5e-324 }, 0)
      H.close(tensors.f16, { { 0.5, -65504 }, { 6.103515625e-05, 0.333251953125 } }, 0)
      H.close(tensors.bf16, { 1, -3.140625, 3.3895313892515355e38, 0.333984375 }, 0)
      assert.same({ { -2147483648, 2147483647 }, { 0, -1 } }, tensors.i32:totable())
      local i64 = int64s(tensors.i64) -- exact, beyond what Lua numbers hold
      assert.is_true(i64[1] == -9223372036854775807LL - 1)
      assert.is_true(i64[2] == 4611686018427387905LL)
      assert.is_true(i64[3] == -1LL)
      assert.same({ 0, 1, 127, 128, 255 }, tensors.u8:totable())
      assert.same({ { true, false }, { false, true } }, tensors.bool:totable())
      assert.equal(0, tensors.scalar:dim())
      assert.equal(42.5, tensors.scalar:item())
      assert.same({ 0, 3 }, tensors.empty:size())
      assert.same({ 2, 0 }, tensors.empty_i64:size())
    end)

    it("write the reference writer's bytes for the same tensors", function()
      local fixture = FIXTURES .. "reference_layout.safetensors"
      local tensors, metadata = st.load(fixture)
      local path = temp_path()
      st.save(path, tensors, metadata)
      assert.equal(read_bytes(fixture), read_bytes(path))
    end)

    it("read a loose layout: spaces, \\u escapes, entries out of order, an odd header length", function()
      local fixture = FIXTURES .. "loose_layout.safetensors"
      assert.equal(5, string.byte(read_bytes(fixture), 1) % 8) -- the data starts unaligned
      local tensors, metadata = st.load(fixture)
      assert.same({ format = "pt", epoch = "12", note = "été → 漢" }, metadata)
      assert.same({ "layer.0/bias", "layer.0/weight", "mask", 'naïve "quoted" name', "nothing", "pixels",
                    "scalar_i64" }, keys(tensors))
      H.close(tensors["layer.0/weight"], { { 1, 2 }, { 3, 4 } }, 0)
      assert.equal("float64", tensors["layer.0/bias"].dtype)
      H.close(tensors["layer.0/bias"], { 0.25, -0.5 }, 0)
      assert.equal("int32", tensors['naïve "quoted" name'].dtype)
      assert.same({ 7, 8, 9 }, tensors['naïve "quoted" name']:totable())
      assert.equal(0, tensors.scalar_i64:dim())
      assert.is_true(int64s(tensors.scalar_i64)[1] == 1234567890123LL)
      assert.same({ false, true, true }, tensors.mask:totable())
      assert.equal("uint8", tensors.pixels.dtype)
      assert.same({ { 0, 128, 255 }, { 1, 2, 3 } }, tensors.pixels:totable())
      assert.equal("float16", tensors.nothing.dtype)
      assert.same({ 0 }, tensors.nothing:size())
    end)
  end)

  describe("byte-exact output", function()
    -- the vectors of the reference implementation's own tests
    -- (safetensors/src/tensor.rs: test_serialization, test_empty,
    -- test_serialization_forced_alignement)
    local function from_bytes(list) return string.char(unpack(list)) end

    it("match the reference for one float32 tensor", function()
      local path = temp_path()
      st.save(path, { ["attn.0"] = oml.arange(6, { dtype = "float32" }):view(1, 2, 3) })
      assert.equal(from_bytes {
        64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
        116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
        58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
        101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
        0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
      }, read_bytes(path))
    end)

    it("pad the header with spaces to a multiple of 8", function()
      local path = temp_path()
      st.save(path, { attn0 = oml.arange(6, { dtype = "float32" }):view(1, 1, 2, 3) })
      assert.equal(from_bytes {
        72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
        121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
        91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
        115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
        32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
        160, 64,
      }, read_bytes(path))
    end)

    it("match the reference with no tensors, with and without metadata", function()
      local a, b = temp_path(), temp_path()
      st.save(a, {})
      assert.equal(from_bytes { 8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32 }, read_bytes(a))
      st.save(b, {}, { framework = "pt" })
      assert.equal(from_bytes {
        40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
        95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
        116, 34, 125, 125, 32, 32, 32, 32, 32,
      }, read_bytes(b))
      assert.same({}, st.load(a))
      local tensors, metadata = st.load(b)
      assert.same({}, tensors)
      assert.same({ framework = "pt" }, metadata)
    end)

    it("order tensors by dtype as the reference does, then by name, so each is aligned", function()
      local path = temp_path()
      st.save(path, { b = oml.ones(1, "bool"), u = oml.ones(3, "uint8"), h = oml.ones(1, "float16"),
                      z = oml.ones(1, "float64"), a = oml.ones(1, "float64"), l = oml.ones(1, "int64") })
      local header = read_bytes(path):sub(9)
      local order = {}
      for name in header:gmatch('"(%a)":{') do order[#order + 1] = name end
      assert.same({ "l", "a", "z", "h", "u", "b" }, order)
    end)
  end)

  describe("broken files", function()
    local function entry(name, dtype, shape, first, last)
      local sizes = {}
      for i, size in ipairs(shape) do sizes[i] = ("%d"):format(size) end
      return ('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'):format(name, dtype,
        table.concat(sizes, ","), first, last)
    end

    -- each case raises "oml.load: <path>: <text>" at the caller's line
    local function refuses(path, text)
      H.raises(function() local _ = st.load(path) end, "oml.load: " .. path .. ": " .. text)
    end

    it("a missing file, a directory, a short file", function()
      refuses(workdir .. "/missing.safetensors", "cannot open: No such file or directory")
      refuses(workdir, "cannot read: Is a directory")
      refuses(write_bytes(temp_path(), ""), "the file is too short for a safetensors header (0 bytes)")
      refuses(write_bytes(temp_path(), "\2\0\0\0\0"), "the file is too short for a safetensors header (5 bytes)")
    end)

    it("a header length beyond the file or the format's limit", function()
      refuses(write_bytes(temp_path(), le_u64(100) .. "{}"), "the header length 100 runs past the end of the file (10 bytes)")
      refuses(write_bytes(temp_path(), le_u64(100000001) .. "{}"),
              "the header length 100000001 is over the format's limit of 100000000 bytes")
      refuses(write_bytes(temp_path(), ("\255"):rep(8) .. "{}"),
              "the header length 18446744073709551615 is over the format's limit")
    end)

    it("a truncated file", function()
      local whole = read_bytes(FIXTURES .. "reference_layout.safetensors")
      refuses(write_bytes(temp_path(), whole:sub(1, #whole - 1)),
              "data_offsets [113,117] run past the end of the data (116 bytes) (tensor 'bool')")
      refuses(write_bytes(temp_path(), whole:sub(1, 100)), "the header length 688 runs past the end of the file (100 bytes)")
    end)

    it("a header that is not UTF-8 JSON describing an object", function()
      refuses(raw_file('{"a": '), "the header is not valid JSON (")
      refuses(raw_file("{}x"), "the header is not valid JSON (")
      refuses(raw_file('{"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,0]}}'), "the header is not valid JSON (")
      refuses(raw_file("[1, 2]"), "the header is not a JSON object")
      refuses(raw_file(" {}"), "the header is not a JSON object")
      refuses(raw_file('{"\255":1}'), "the header is not valid UTF-8")
      refuses(raw_file('{"\237\160\128":1}'), "the header is not valid UTF-8") -- an encoded surrogate
      refuses(raw_file(""), "the header is not a JSON object")
    end)

    it("entries that are not tensors", function()
      refuses(raw_file('{"a":3}'), "the entry is not an object (tensor 'a')")
      refuses(raw_file('{"a":null}'), "the entry is not an object (tensor 'a')")
      refuses(raw_file('{"a":{"shape":[],"data_offsets":[0,4]}}'), "the entry has no dtype (tensor 'a')")
      refuses(raw_file('{"a":{"dtype":"F32","data_offsets":[0,4]}}'), "the shape is not a list (tensor 'a')")
      refuses(raw_file('{"a":{"dtype":"F32","shape":{"1":2},"data_offsets":[0,8]}}'),
              "the shape is not a list (tensor 'a')")
      refuses(raw_file('{"a":{"dtype":"F32","shape":[]}}'),
              "data_offsets is not a list of two non-negative integers (tensor 'a')")
      refuses(raw_file('{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4,8]}}', ("\0"):rep(8)),
              "data_offsets is not a list of two non-negative integers (tensor 'a')")
      refuses(raw_file('{"a":{"dtype":"F32","shape":[],"data_offsets":[-4,0]}}'),
              "data_offsets is not a list of two non-negative integers (tensor 'a')")
      refuses(raw_file('{"__metadata__":{"epoch":12}}'),
              "__metadata__ must map strings to strings (entry epoch holds a number)")
      refuses(raw_file('{"__metadata__":"pt"}'), "__metadata__ is not an object")
    end)

    it("unknown dtypes and impossible shapes", function()
      refuses(raw_file("{" .. entry("w", "I16", { 2 }, 0, 4) .. "}", "\0\0\0\0"),
              "unsupported dtype 'I16' (oml reads F32, F64, F16, BF16, I32, I64, U8 and BOOL) (tensor 'w')")
      refuses(raw_file("{" .. entry("w", "F8_E4M3", { 2 }, 0, 2) .. "}", "\0\0"), "unsupported dtype 'F8_E4M3'")
      refuses(raw_file("{" .. entry("w", "f32", { 1 }, 0, 4) .. "}", "\0\0\0\0"), "unsupported dtype 'f32'")
      refuses(raw_file("{" .. entry("w", "F32", { 2, -1 }, 0, 0) .. "}"),
              "size 2 of the shape is not a non-negative integer (tensor 'w')")
      refuses(raw_file('{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,6]}}', ("\0"):rep(6)),
              "size 1 of the shape is not a non-negative integer (tensor 'w')")
      refuses(raw_file("{" .. entry("w", "F32", { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 0, 4) .. "}", "\0\0\0\0"),
              "the shape has 9 dims; oml tensors have at most 8 (tensor 'w')")
      -- sizes whose product overflows, with a 0 that makes the tensor empty
      refuses(raw_file("{" .. entry("w", "F32", { 2 ^ 53, 2 ^ 53, 0 }, 0, 0) .. "}"),
              "a tensor of size [9007199254740992,9007199254740992,0] is too large (tensor 'w')")
    end)

    it("offsets that overlap, leave gaps, or do not match the shape", function()
      local four = "\0\0\0\0"
      refuses(raw_file("{" .. entry("a", "F32", { 1 }, 0, 4) .. "," .. entry("b", "F32", { 1 }, 2, 6) .. "}", four .. "\0\0"),
              "data_offsets [2,6] overlap the tensor before, which ends at byte 4 (tensor 'b')")
      refuses(raw_file("{" .. entry("a", "F32", { 1 }, 0, 4) .. "," .. entry("b", "F32", { 1 }, 0, 4) .. "}", four),
              "data_offsets [0,4] overlap the tensor before, which ends at byte 4 (tensor 'b')")
      refuses(raw_file("{" .. entry("a", "F32", { 1 }, 0, 4) .. "," .. entry("b", "F32", { 1 }, 8, 12) .. "}", four:rep(3)),
              "data_offsets [8,12] leave bytes 4 to 8 of the data unused (tensor 'b')")
      refuses(raw_file("{" .. entry("a", "F32", { 1 }, 4, 8) .. "}", four:rep(2)),
              "data_offsets [4,8] leave bytes 0 to 4 of the data unused (tensor 'a')")
      refuses(raw_file("{" .. entry("a", "F32", { 1 }, 4, 0) .. "}", four),
              "data_offsets [4,0] end before they begin (tensor 'a')")
      refuses(raw_file("{" .. entry("a", "F32", { 2 }, 0, 8) .. "}", four),
              "data_offsets [0,8] run past the end of the data (4 bytes) (tensor 'a')")
      refuses(raw_file("{" .. entry("a", "F32", { 2 }, 0, 4) .. "}", four),
              "data_offsets [0,4] hold 4 bytes, but shape [2] of F32 needs 8 (tensor 'a')")
      refuses(raw_file("{" .. entry("a", "F32", { 3, 2 ^ 52 }, 0, 4) .. "}", four),
              "data_offsets [0,4] hold 4 bytes, but shape [3,4503599627370496] of F32 needs 54043195528445952")
      refuses(raw_file("{" .. entry("a", "F32", { 1 }, 0, 4) .. "}", four .. "\0"),
              "the last 1 bytes of the file belong to no tensor")
      refuses(raw_file("{}", "\0"), "the last 1 bytes of the file belong to no tensor")
    end)

    it("bool bytes other than 0 and 1", function()
      refuses(raw_file("{" .. entry("m", "BOOL", { 3 }, 0, 3) .. "}", "\1\0\2"),
              "a bool holds the byte 2 (element 3) (tensor 'm')")
    end)

    it("a bad path", function()
      H.raises(function() local _ = st.load(nil) end, "oml.load: the path must be a string (got nil)")
    end)
  end)

  describe("save refuses", function()
    local path = workdir .. "/refused.safetensors"

    local function refuses(fn, text)
      H.raises(fn, "oml.save: " .. text)
      assert.is_nil(io.open(path, "rb"))
    end

    it("what is not a table of named tensors, or metadata of strings", function()
      refuses(function() st.save(path, oml.ones(2)) end, "the tensors must be a table of name -> tensor (got tensor)")
      refuses(function() st.save(path, { oml.ones(2) }) end, "tensor names must be strings (got 1)")
      refuses(function() st.save(path, { w = 3 }) end, "'w' is not a tensor (got number)")
      refuses(function() st.save(path, { w = { 1, 2 } }) end, "'w' is not a tensor (got table)")
      refuses(function() st.save(path, { w = T.new() }) end, "tensor 'w' is unset")
      refuses(function() st.save(path, { __metadata__ = oml.ones(1) }) end,
              "'__metadata__' is the format's own key; it cannot name a tensor")
      refuses(function() st.save(path, { ["a\255"] = oml.ones(1) }) end, 'tensor name "a\\255" is not valid UTF-8')
      refuses(function() st.save(path, {}, "pt") end, "the metadata must be a table of string -> string (got string)")
      refuses(function() st.save(path, {}, { epoch = 12 }) end,
              "the metadata must map strings to strings (entry epoch holds a number)")
      refuses(function() st.save(path, {}, { "pt" }) end, "the metadata must map strings to strings (entry 1 holds a string)")
      refuses(function() st.save(path, {}, { format = "\192\128" }) end, 'metadata entry "format" is not valid UTF-8')
      refuses(function() st.save(3, {}) end, "the path must be a string (got number)")
    end)
  end)

  describe("atomic writes", function()
    local function no_temporary_files(dir)
      for _, name in ipairs(listing(dir)) do assert.is_nil(name:find(".tmp-", 1, true), name) end
    end

    it("fail in a directory nobody may write, leaving nothing", function()
      local dir = workdir .. "/readonly"
      sh("mkdir " .. dir .. " && chmod 555 " .. dir)
      local probe = io.open(dir .. "/probe", "wb")
      if probe then -- root writes anyway: use /sys, which refuses root too
        probe:close()
        os.remove(dir .. "/probe")
        dir = "/sys"
      end
      local path = dir .. "/w.safetensors"
      H.raises(function() st.save(path, { w = oml.ones(2) }) end,
               "oml.save: " .. path .. ": cannot create a temporary file in " .. dir .. ": ")
      assert.is_nil(io.open(path, "rb"))
      no_temporary_files(dir)
    end)

    it("fail in a directory that does not exist", function()
      local path = workdir .. "/nowhere/w.safetensors"
      H.raises(function() st.save(path, { w = oml.ones(2) }) end,
               "cannot create a temporary file in " .. workdir .. "/nowhere: No such file or directory")
    end)

    it("fail over a directory, leaving it and nothing else", function()
      local dir = workdir .. "/occupied"
      sh("mkdir -p " .. dir .. "/inside")
      H.raises(function() st.save(dir .. "/inside", { w = oml.ones(2) }) end,
               "oml.save: " .. dir .. "/inside: cannot replace the file: Is a directory")
      assert.same({ "inside" }, listing(dir))
    end)

    it("leave the previous file intact when a write fails midway", function()
      local dir = workdir .. "/full"
      sh("mkdir " .. dir)
      local path = dir .. "/model.safetensors"
      st.save(path, { old = oml.ones(2) })
      local before = read_bytes(path)
      -- a child limited to 64 KiB files (writes past it fail with EFBIG, the
      -- signal ignored) saves 400 KB: the header goes out, the data does not
      local script = ([[
        package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
        local oml = require "oml"
        local ok, err = pcall(require("oml.io.safetensors").save, %q, { new = oml.zeros(100000) })
        io.write(tostring(err))
        os.exit(ok and 0 or 3)
      ]]):format(path)
      local child = io.popen(("trap '' XFSZ; ulimit -f 64; luajit -e %q 2>&1"):format(script))
      local output = child:read("*a")
      child:close()
      assert.truthy(output:find("oml.save: " .. path .. ": cannot write: File too large", 1, true), output)
      assert.equal(before, read_bytes(path))
      assert.same({ "model.safetensors" }, listing(dir))
      assert.same({ "old" }, keys(st.load(path)))
    end)
  end)

  describe("cuda tensors #gpu", function()
    if not oml.cuda.is_available() then
      it("need a GPU", function() pending("no CUDA device here") end)
      return
    end

    it("are saved from the device and loaded onto it", function()
      local path = temp_path()
      local t = oml.arange(12):view(3, 4):double()
      st.save(path, { w = t:t():cuda() }) -- a non-contiguous device tensor
      local loaded = st.load(path, { device = "cuda" })
      assert.equal("cuda:0", loaded.w.device)
      assert.same(t:t():totable(), loaded.w:cpu():totable())
      assert.equal("cpu", st.load(path).w.device)
    end)
  end)
end)
