-- oml.io.jpeg: decoding the fixture files, DCT-scaled decoding, round
-- trips, atomic writes, and broken input (truncated, garbage, corrupted
-- bytes) that must raise, never crash.
local oml = require "oml"
local jpeg = require "oml.io.jpeg"
local H = require "helper"

local FIXTURES = "spec/fixtures/images/" -- made by spec/fixtures/images/make_images.py

local sh, read_bytes, files_in = H.sh, H.read_bytes, H.files_in
local workdir = H.tempdir()

-- the pixel (row y, column x; 1-based) as {r, g, b}
local function pixel(image, y, x)
  return { image[y][x][1], image[y][x][2], image[y][x][3] }
end

-- a smooth h x w RGB image, as JPEG compresses with little loss
local function smooth_image(h, w)
  local rows = {}
  for y = 1, h do
    rows[y] = {}
    for x = 1, w do rows[y][x] = { 8 * x, 6 * y, 100 + 2 * (x + y) } end
  end
  return oml.tensor(rows, "uint8")
end

describe("jpeg.read", function()
  -- expected colours: what PIL decodes from the same files
  -- (/usr/bin/python3: Image.open(f).convert("RGB").getpixel((5, 5)))
  it("decodes the fixtures to uint8 [H, W, 3] RGB", function()
    for _, case in ipairs {
      { "red_32x24.jpg", { 24, 32, 3 }, { 200, 40, 40 } },
      { "green_16x48.jpg", { 48, 16, 3 }, { 40, 179, 60 } },
      { "blue_40x40.jpg", { 40, 40, 3 }, { 30, 60, 210 } },
      { "yellow_64x16.jpg", { 16, 64, 3 }, { 221, 200, 31 } },
    } do
      local image = jpeg.read(FIXTURES .. case[1])
      assert.are.equal("uint8", image.dtype)
      H.close(image:size(), case[2])
      H.close(pixel(image, 6, 6), case[3], 0.01)
      H.close(pixel(image, case[2][1], case[2][2]), case[3], 0.01)
    end
  end)

  it("turns a grayscale file into three equal channels", function()
    local image = jpeg.read(FIXTURES .. "gray_20x30.jpg")
    H.close(image:size(), { 30, 20, 3 })
    H.close(pixel(image, 1, 1), { 128, 128, 128 })
    H.close(pixel(image, 30, 20), { 128, 128, 128 })
  end)

  it("decodes at the smallest DCT scale whose shorter side is still >= min_side", function()
    -- 80 x 64 (w x h); TurboJPEG's scales n/8: 64 -> 8, 16, 24, 32, 40, 48, 56, 64
    local path = FIXTURES .. "gradient_80x64.jpg"
    for _, case in ipairs {
      { 1, { 8, 10 } }, { 8, { 8, 10 } }, { 9, { 16, 20 } }, { 17, { 24, 30 } }, { 32, { 32, 40 } },
      { 33, { 40, 50 } }, { 64, { 64, 80 } }, { 100, { 64, 80 } }, -- never above 1/1
    } do
      local image = jpeg.read(path, { min_side = case[1] })
      H.close(image:size(), { case[2][1], case[2][2], 3 })
    end
    H.close(jpeg.read(path, {}):size(), { 64, 80, 3 })
    -- at 1/8 a pixel is the mean of an 8x8 block of the gradient (R = 3x, G = 3y, B = 100,
    -- x and y from 0): the corner blocks give 3 * 3.5 and 3 * 75.5, 3 * 59.5
    local small = jpeg.read(path, { min_side = 8 })
    H.close(pixel(small, 1, 1), { 10.5, 10.5, 100 }, 0.1)
    H.close(pixel(small, 8, 10), { 226.5, 178.5, 100 }, 0.01)
  end)

  it("refuses bad arguments", function()
    H.raises(function() local _ = jpeg.read(42) end, "oml.jpeg.read: the path must be a string")
    H.raises(function() local _ = jpeg.read(workdir .. "/none.jpg") end, "oml.jpeg.read: " .. workdir .. "/none.jpg")
    H.raises(function() local _ = jpeg.read(FIXTURES .. "red_32x24.jpg", 3) end,
             "oml.jpeg.read: options must be a table")
    H.raises(function() local _ = jpeg.read(FIXTURES .. "red_32x24.jpg", { side = 3 }) end,
             "oml.jpeg.read: unknown option 'side'")
    H.raises(function() local _ = jpeg.read(FIXTURES .. "red_32x24.jpg", { min_side = -1 }) end, "oml.jpeg.read:")
    H.raises(function() local _ = jpeg.read(FIXTURES .. "red_32x24.jpg", { min_side = 70000 }) end,
             "oml.jpeg.read: min_side must be at most 65535")
    H.raises(function() local _ = jpeg.read(FIXTURES .. "make_images.py") end,
             "oml.jpeg.read: " .. FIXTURES .. "make_images.py: not a readable JPEG: Not a JPEG file")
  end)
end)

describe("jpeg.decode", function()
  it("takes the bytes as a string or a uint8 tensor", function()
    local bytes = read_bytes(FIXTURES .. "blue_40x40.jpg")
    local from_string = jpeg.decode(bytes)
    local encoded = jpeg.encode(from_string, 95)
    local from_tensor = jpeg.decode(encoded)
    H.close(from_tensor:size(), { 40, 40, 3 })
    H.close(pixel(from_tensor, 20, 20), { 30, 60, 210 }, 0.02)
    -- a strided view of the bytes (every other element of [n, 2])
    local strided = oml.stack({ encoded, encoded }, 2):select(2, 1)
    assert.is_false(strided:is_contiguous())
    H.close(jpeg.decode(strided), from_tensor)
  end)

  it("raises on truncated data at every length", function()
    local bytes = read_bytes(FIXTURES .. "red_32x24.jpg")
    for n = 0, #bytes - 3, 1 do -- the last two bytes are the end marker
      local ok, err = pcall(jpeg.decode, bytes:sub(1, n))
      assert(not ok, "a file truncated to " .. n .. " bytes decoded")
      assert(err:find("oml.jpeg.decode: ", 1, true), err)
    end
    H.raises(function() local _ = jpeg.decode("") end, "oml.jpeg.decode: no JPEG data (0 bytes)")
    local gradient = read_bytes(FIXTURES .. "gradient_80x64.jpg")
    H.raises(function() local _ = jpeg.decode(gradient:sub(1, 1200)) end,
             "oml.jpeg.decode: cannot decode the JPEG: Premature end of JPEG file")
  end)

  it("raises on garbage and survives corrupted bytes", function()
    H.raises(function() local _ = jpeg.decode(("garbage"):rep(50)) end,
             "oml.jpeg.decode: not a readable JPEG: Not a JPEG file")
    local bytes = read_bytes(FIXTURES .. "gradient_80x64.jpg")
    H.raises(function() local _ = jpeg.decode(bytes:sub(1, 800) .. ("\0"):rep(700) .. bytes:sub(1501)) end,
             "oml.jpeg.decode: cannot decode the JPEG: Corrupt JPEG data")
    -- every byte flipped in turn (a stride keeps this quick): an image or an error, never a crash
    for i = 1, #bytes, 7 do
      local b = bytes:byte(i)
      local broken = bytes:sub(1, i - 1) .. string.char(255 - b) .. bytes:sub(i + 1)
      local ok, result = pcall(jpeg.decode, broken)
      if ok then
        assert.are.equal(3, result:size(3))
      else
        assert(result:find("oml.jpeg.decode: ", 1, true), result)
      end
    end
  end)

  it("refuses what is not bytes", function()
    H.raises(function() local _ = jpeg.decode(12) end, "oml.jpeg.decode: expected the bytes as a string or a 1-d uint8")
    H.raises(function() local _ = jpeg.decode(oml.zeros(4)) end, "oml.jpeg.decode: expected the bytes")
    H.raises(function() local _ = jpeg.decode(oml.zeros({ 2, 2 }, "uint8")) end, "oml.jpeg.decode: expected the bytes")
  end)
end)

describe("oml_jpeg_decode's out tensor", function()
  local C, T = require("oml.tensor").C, require "oml.tensor"
  local ffi = require "ffi"
  local bytes = read_bytes(FIXTURES .. "gradient_80x64.jpg")

  it("writes a set out in place, strided or not", function()
    local expected = jpeg.decode(bytes)
    local base = oml.zeros({ 80, 64, 3 }, "uint8")
    local out = base:permute(2, 1, 3) -- [64, 80, 3], not contiguous
    assert.are.equal(0, C.oml_jpeg_decode(bytes, #bytes, 0, out))
    H.close(out, expected)
    H.close(base:permute(2, 1, 3), expected)
  end)

  it("refuses an out of another shape or dtype", function()
    for _, out in ipairs { oml.zeros({ 64, 80, 1 }, "uint8"), oml.zeros({ 64, 80, 3 }) } do
      assert.are.equal(-1, C.oml_jpeg_decode(bytes, #bytes, 0, out))
      assert(#ffi.string(C.oml_last_error()) > 0)
    end
    assert.are.equal(-1, C.oml_jpeg_decode(nil, 10, 0, T.new()))
    H.close(ffi.string(C.oml_last_error()), "no JPEG data (a NULL buffer)")
    assert.are.equal(-1, C.oml_jpeg_decode(bytes, -1, 0, T.new()))
    H.close(ffi.string(C.oml_last_error()), "no JPEG data (-1 bytes)")
  end)
end)

describe("jpeg.encode", function()
  it("round-trips a smooth image within JPEG's loss", function()
    local image = smooth_image(16, 24)
    for _, quality in ipairs { 100, 90, 50 } do
      local back = jpeg.decode(jpeg.encode(image, quality))
      H.close(back:size(), { 16, 24, 3 })
      local err = (back:to("float32") - image:to("float32")):abs():max():item()
      assert(err <= (quality == 100 and 6 or 20), "quality " .. quality .. ": max error " .. err)
    end
    -- lower quality, fewer bytes
    assert(jpeg.encode(image, 30):numel() < jpeg.encode(image, 100):numel())
    assert.are.equal(jpeg.encode(image, jpeg.DEFAULT_QUALITY):numel(), jpeg.encode(image):numel())
  end)

  it("encodes non-contiguous views", function()
    local image = smooth_image(16, 24)
    local transposed = image:permute(2, 1, 3)
    local back = jpeg.decode(jpeg.encode(transposed, 100))
    H.close(back:size(), { 24, 16, 3 })
    local err = (back:to("float32") - transposed:to("float32")):abs():max():item()
    assert(err <= 6, "max error " .. err)
    H.close(jpeg.decode(jpeg.encode(image:narrow(2, 5, 1))):size(), { 16, 1, 3 })
  end)

  it("refuses bad images and qualities", function()
    local image = smooth_image(4, 4)
    H.raises(function() local _ = jpeg.encode(image:to("float32")) end,
             "oml.jpeg.encode: the image must be uint8, not float32")
    H.raises(function() local _ = jpeg.encode(oml.zeros({ 4, 4 }, "uint8")) end,
             "oml.jpeg.encode: the image must have shape [H,W,3], not [4,4]")
    H.raises(function() local _ = jpeg.encode(oml.zeros({ 4, 4, 4 }, "uint8")) end,
             "oml.jpeg.encode: the image must have shape [H,W,3], not [4,4,4]")
    H.raises(function() local _ = jpeg.encode(oml.zeros({ 0, 4, 3 }, "uint8")) end,
             "oml.jpeg.encode: a JPEG's sides must be 1..65535, not [0,4,3]")
    H.raises(function() local _ = jpeg.encode(image, 0) end, "oml.jpeg.encode: quality must be 1..100 (got 0)")
    H.raises(function() local _ = jpeg.encode(image, 101) end, "oml.jpeg.encode: quality must be 1..100 (got 101)")
    H.raises(function() local _ = jpeg.encode(image, 1.5) end, "oml.jpeg.encode:")
    H.raises(function() local _ = jpeg.encode("image") end, "oml.jpeg.encode:")
  end)
end)

describe("jpeg.write", function()
  it("writes a file that reads back, leaving no temporary file", function()
    local dir = workdir .. "/w"
    sh("mkdir " .. dir)
    local image = smooth_image(16, 24)
    jpeg.write(dir .. "/a.jpg", image, 100)
    jpeg.write(dir .. "/a.jpg", image:narrow(1, 1, 8)) -- over an existing file
    H.close(jpeg.read(dir .. "/a.jpg"):size(), { 8, 24, 3 })
    H.close(files_in(dir), { "a.jpg" })
  end)

  it("raises without touching the target when it cannot write", function()
    H.raises(function() jpeg.write(workdir .. "/no/such/dir/a.jpg", smooth_image(4, 4)) end, "oml.jpeg.write: ")
    H.raises(function() jpeg.write(workdir .. "/b.jpg", oml.zeros({ 4, 4 }, "uint8")) end,
             "oml.jpeg.write: the image must have shape [H,W,3]")
    H.raises(function() jpeg.write(7, smooth_image(4, 4)) end, "oml.jpeg.write: the path must be a string")
    H.raises(function() jpeg.write(workdir .. "/b.jpg", smooth_image(4, 4), 0) end,
             "oml.jpeg.write: quality must be 1..100")
    assert.is_nil(io.open(workdir .. "/b.jpg", "rb"))
  end)
end)

teardown(function() sh("rm -rf " .. workdir) end)
