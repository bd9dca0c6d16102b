-- oml.io.mmap and oml.io.zlib: the helpers that oml's file readers share
-- (oml.io.safetensors and oml.io.zip map files; oml.io.zip checks CRC-32s,
-- oml.io.matlab inflates).
local ffi = require "ffi"
local mmap = require "oml.io.mmap"
local zlib = require "oml.io.zlib"
local H = require "helper"

-- the `what` of the error fn raises
local function what(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  assert(type(err) == "table", tostring(err))
  return err.what
end

local function bytes(s)
  return ffi.cast("const uint8_t *", s)
end

describe("oml.io.mmap", function()
  local dir
  before_each(function() dir = H.tempdir() end)
  after_each(function() H.sh("rm -rf " .. dir) end)

  local function write(name, s) return H.write_file(dir, name, s) end

  it("maps a file's bytes, read-only", function()
    local base, size = mmap.map(write("f", "hello\0world"))
    assert.equal(11, size)
    assert.equal("hello\0world", ffi.string(base, size))
    mmap.unmap(base, size)
  end)

  it("gives size 0 for an empty file", function()
    local base, size = mmap.map(write("empty", ""))
    assert.equal(0, size)
    mmap.unmap(base, size)
  end)

  it("says why a path cannot be mapped", function()
    assert.equal("cannot open: No such file or directory", what(mmap.map, dir .. "/missing"))
    assert.equal("cannot read: Is a directory", what(mmap.map, dir))
  end)
end)

describe("oml.io.zlib", function()
  -- python3: hex(zlib.crc32(b"123456789")) == 0xcbf43926 (the CRC-32 check value)
  local CHECK, CHECK_CRC = "123456789", 0xCBF43926

  it("computes CRC-32, whole or continued, with either library", function()
    assert.is_truthy(zlib.CRC_LIBRARY == "libdeflate" or zlib.CRC_LIBRARY == "zlib")
    for _, crc32 in ipairs { zlib.crc32, zlib.crc32_zlib } do
      assert.equal(CHECK_CRC, crc32(bytes(CHECK), #CHECK))
      assert.equal(CHECK_CRC, crc32(bytes(CHECK) + 4, 5, crc32(bytes(CHECK), 4)))
      assert.equal(0, crc32(bytes(""), 0))
      assert.equal(CHECK_CRC, crc32(bytes(""), 0, CHECK_CRC))
    end
    -- both agree on a few megabytes that no pattern repeats in
    local n = 3 * 2 ^ 20 + 7
    local buf = ffi.new("uint8_t[?]", n)
    local x = 1
    for i = 0, n - 1 do
      x = (x * 1103515245 + 12345) % 2 ^ 31
      buf[i] = math.floor(x / 65536) % 256
    end
    assert.equal(zlib.crc32_zlib(buf, n), zlib.crc32(buf, n))
  end)

  it("inflates a zlib stream, and says why it cannot", function()
    -- python3: zlib.compress(b"hello " * 10)
    local stream = "\120\156\203\72\205\201\201\87\200\32\139\4\0\166\192\22\9"
    assert.equal(("hello "):rep(10), zlib.uncompress(bytes(stream), #stream, 1000))
    assert.equal(("hello "):rep(10), zlib.uncompress(bytes(stream), #stream, 60))
    assert.same({ nil, "too large" }, { zlib.uncompress(bytes(stream), #stream, 59) })
    assert.same({ nil, "corrupt", -3 }, { zlib.uncompress(bytes("not zlib"), 8, 1000) }) -- Z_DATA_ERROR
    assert.same({ nil, "corrupt", -3 }, { zlib.uncompress(bytes(stream), 10, 1000) }) -- cut short
  end)
end)
