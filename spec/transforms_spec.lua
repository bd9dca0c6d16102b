-- oml.data.transforms: values against PIL/torch, each op's geometry,
-- non-contiguous inputs, and every error path.
local oml = require "oml"
local tr = require "oml.data.transforms"
local H = require "helper"

-- Expected values: spec/fixtures/transforms/make_expected.py (PIL 9.4's
-- Image.resize(..., BILINEAR) for uint8; torch 1.13's
-- F.interpolate(mode="bilinear", antialias=True), which is what
-- torchvision's F.resize(..., antialias=True) runs, for float32; torch's
-- (x.float() / 255 - mean) / std for normalize). First line: the shape;
-- second: the values in row-major order.
local FIXTURES = "spec/fixtures/transforms/"

local function load(name, dtype)
  local f = assert(io.open(FIXTURES .. name))
  local shape, values = {}, {}
  for n in f:read("*l"):gmatch("%S+") do shape[#shape + 1] = tonumber(n) end
  for n in f:read("*l"):gmatch("%S+") do values[#values + 1] = tonumber(n) end
  f:close()
  return oml.tensor(values, dtype):view(unpack(shape))
end

-- the largest difference between two tensors (or nested lists) of one shape
local function max_diff(a, b)
  if oml.is_tensor(a) then a = a:totable() end
  if oml.is_tensor(b) then b = b:totable() end
  if type(b) == "number" then return math.abs(a - b) end
  assert(#a == #b, ("sizes differ: %d and %d"):format(#a, #b))
  local worst = 0
  for i = 1, #b do worst = math.max(worst, max_diff(a[i], b[i])) end
  return worst
end

-- views with the values of image that are not contiguous
local function transposed_view(image)
  local v = image:transpose(1, 2):contiguous():transpose(1, 2)
  assert.is_false(v:is_contiguous())
  return v
end
local function narrowed_view(image)
  local h, w = image:size(1), image:size(2)
  local v = tr.pad(image, 2, 7):narrow(1, 3, h):narrow(2, 3, w)
  assert.is_false(v:is_contiguous())
  return v
end

local big = load("input_17x23.txt", "uint8")
local small = load("input_13x9.txt", "uint8")

-- a small image whose pixel (y, x) (1-based) is {y, x, 100 + y + x}
local function coords_image(h, w)
  local rows = {}
  for y = 1, h do
    rows[y] = {}
    for x = 1, w do rows[y][x] = { y, x, 100 + y + x } end
  end
  return oml.tensor(rows, "uint8")
end

-- the same image as float32 [3, H, W]
local function chw(image) return image:permute(3, 1, 2):to("float32") end

describe("transforms.resize", function()
  it("matches PIL's bilinear within 1 when shrinking, growing or both", function()
    for _, case in ipairs {
      { big, { 7, 5 }, "resize_17x23_to_7x5.txt" },
      { small, { 29, 31 }, "resize_13x9_to_29x31.txt" },
      { big, { 29, 5 }, "resize_17x23_to_29x5.txt" },
    } do
      local expected = load(case[3], "uint8")
      for _, image in ipairs { case[1], transposed_view(case[1]), narrowed_view(case[1]) } do
        local out = tr.resize(image, case[2])
        assert.are.equal("uint8", out.dtype)
        H.close(out:size(), expected:size())
        assert.is_true(max_diff(out, expected) <= 1, case[3])
      end
    end
  end)

  it("resizes float32 CHW as torch's antialiased interpolate", function()
    local expected = load("resize_float_17x23_to_7x5.txt", "float32")
    local out = tr.resize(chw(big), { 7, 5 })
    assert.are.equal("float32", out.dtype)
    H.close(out:size(), { 3, 7, 5 })
    assert.is_true(max_diff(out, expected) < 1e-3)
    assert.is_true(max_diff(tr.resize(chw(big):transpose(2, 3):contiguous():transpose(2, 3), { 7, 5 }), expected) < 1e-3)
  end)

  it("keeps the image at its own size and a constant image constant", function()
    H.close(tr.resize(big, { 17, 23 }), big)
    local flat = oml.zeros({ 6, 9, 3 }, "uint8"):fill(77)
    H.close(tr.resize(flat, { 3, 20 }), oml.zeros({ 3, 20, 3 }, "uint8"):fill(77))
    H.close(tr.resize(flat, { 13, 4 }), oml.zeros({ 13, 4, 3 }, "uint8"):fill(77))
  end)

  it("takes the shorter side as a number, as torchvision", function()
    H.close(tr.resize(big, 10):size(), { 10, 13, 3 }) -- 10 * 23 / 17 = 13.5
    H.close(tr.resize(small, 6):size(), { 8, 6, 3 })  -- 6 * 13 / 9 = 8.7
    H.close(tr.resize(chw(big), 10):size(), { 3, 10, 13 })
  end)

  it("raises on bad arguments", function()
    H.raises(function() local _ = tr.resize(big, { 0, 5 }) end, "oml.transforms.resize: the height must be positive (got 0)")
    H.raises(function() local _ = tr.resize(big, { 5 }) end, "oml.transforms.resize: the size must be a number or {height, width}")
    H.raises(function() local _ = tr.resize(big, -3) end, "oml.transforms.resize: the size must be positive (got -3)")
    H.raises(function() local _ = tr.resize(big, 1.5) end, "oml.transforms.resize: the size must be an integer")
    H.raises(function() local _ = tr.resize(oml.zeros(4, 4, 3), { 2, 2 }) end,
      "oml.transforms.resize: the image must be uint8 [H,W,3] or float32 [3,H,W] (got a float32 tensor of size [4,4,3])")
    H.raises(function() local _ = tr.resize(oml.zeros(4, 4, 3):to("float64"), { 2, 2 }) end,
      "oml.transforms.resize: the image must be uint8 [H,W,3] or float32 [3,H,W] (got a float64 tensor of size [4,4,3])")
    H.raises(function() local _ = tr.resize(oml.zeros({ 4, 4 }, "uint8"), { 2, 2 }) end,
      "oml.transforms.resize: the image must be uint8 [H,W,3] or float32 [3,H,W]")
    H.raises(function() local _ = tr.resize(big:narrow(1, 1, 0), { 2, 2 }) end,
      "oml.transforms.resize: the image is empty (shape [0,23,3])")
    H.raises(function() local _ = tr.resize(require("oml.tensor").new(), { 2, 2 }) end, "oml.transforms.resize: the image is an unset tensor")
    H.raises(function() local _ = tr.resize("x", { 2, 2 }) end, "oml.transforms.resize: the image must be a tensor")
  end)
end)

describe("transforms.crop and box_crop", function()
  local image = coords_image(6, 8)

  it("copies the box, 1-based for crop and OML's 0-based edges for box_crop", function()
    local out = tr.crop(image, 2, 3, 4, 5)
    H.close(out:size(), { 4, 5, 3 })
    H.close(out[1][1], { 2, 3, 105 })
    H.close(out[4][5], { 5, 7, 112 })
    H.close(tr.box_crop(image, 2, 1, 7, 5), out) -- columns 2..6, rows 1..4 (0-based)
    H.close(tr.crop(transposed_view(image), 2, 3, 4, 5), out)
    H.close(tr.crop(narrowed_view(image), 2, 3, 4, 5), out)
    H.close(tr.crop(image, 1, 1, 6, 8), image)
    local floats = tr.crop(chw(image), 2, 3, 4, 5)
    H.close(floats:size(), { 3, 4, 5 })
    H.close(floats, chw(out))
  end)

  it("raises on boxes outside the image and bad sizes", function()
    H.raises(function() local _ = tr.crop(image, 4, 1, 4, 2) end,
      "oml.transforms.crop: the box of 4x2 at row 4, column 1 is not inside the 6x8 image")
    H.raises(function() local _ = tr.crop(image, 0, 1, 2, 2) end,
      "oml.transforms.crop: the box of 2x2 at row 0, column 1 is not inside the 6x8 image")
    H.raises(function() local _ = tr.crop(image, 1, 8, 2, 2) end, "is not inside the 6x8 image")
    H.raises(function() local _ = tr.crop(image, 1, 1, 0, 2) end, "oml.transforms.crop: the crop size must be positive (got 0x2)")
    H.raises(function() local _ = tr.crop(image, 1, 1, 2) end, "oml.transforms.crop: the width must be an integer (got nil)")
    H.raises(function() local _ = tr.box_crop(image, 3, 0, 3, 2) end,
      "oml.transforms.box_crop: the box needs x_1 < x_2 and y_1 < y_2 (got x 3..3, y 0..2)")
    H.raises(function() local _ = tr.box_crop(image, 0, 0, 9, 2) end,
      "oml.transforms.box_crop: the box of 2x9 at row 1, column 1 is not inside the 6x8 image")
    H.raises(function() local _ = tr.box_crop(image, -1, 0, 2, 2) end, "is not inside the 6x8 image")
  end)
end)

describe("transforms.center_crop", function()
  it("places the box as torchvision (Python's round of the margin / 2)", function()
    local image = coords_image(9, 10)
    -- margins 9 - 4 = 5 and 10 - 3 = 7: round(2.5) = 2, round(3.5) = 4
    H.close(tr.center_crop(image, { 4, 3 })[1][1], { 3, 5, 108 })
    -- margins 2 and 4: 1 and 2
    H.close(tr.center_crop(image, { 7, 6 })[1][1], { 2, 3, 105 })
    H.close(tr.center_crop(image, 5):size(), { 5, 5, 3 })
    H.close(tr.center_crop(narrowed_view(image), { 4, 3 }), tr.crop(image, 3, 5, 4, 3))
    H.close(tr.center_crop(chw(image), { 4, 3 }), chw(tr.crop(image, 3, 5, 4, 3)))
  end)

  it("raises when the crop is larger than the image", function()
    H.raises(function() local _ = tr.center_crop(coords_image(4, 6), { 5, 2 }) end,
      "oml.transforms.center_crop: the crop 5x2 is larger than the 4x6 image")
    H.raises(function() local _ = tr.center_crop(coords_image(4, 6), 0) end,
      "oml.transforms.center_crop: the size must be positive (got 0)")
  end)
end)

describe("transforms.hflip", function()
  it("mirrors columns in both layouts and from views", function()
    local image = coords_image(3, 5)
    local out = tr.hflip(image)
    H.close(out:size(), { 3, 5, 3 })
    for y = 1, 3 do
      for x = 1, 5 do H.close(out[y][x], { y, 6 - x, 100 + y + 6 - x }) end
    end
    H.close(tr.hflip(transposed_view(image)), out)
    H.close(tr.hflip(narrowed_view(image)), out)
    H.close(tr.hflip(out), image)
    H.close(tr.hflip(chw(image)), chw(out))
    H.raises(function() local _ = tr.hflip(oml.zeros({ 3, 4 }, "uint8")) end, "oml.transforms.hflip: the image must be uint8")
  end)
end)

describe("transforms.pad", function()
  local image = coords_image(2, 3)

  it("pads as torchvision's n, {left/right, top/bottom} and {left, top, right, bottom}", function()
    local out = tr.pad(image, { 1, 2, 3, 4 }, 9)
    H.close(out:size(), { 8, 7, 3 })
    H.close(out[1][1], { 9, 9, 9 })
    H.close(out[3][2], { 1, 1, 102 }) -- top 2, left 1
    H.close(out[4][4], { 2, 3, 105 })
    H.close(out[4][5], { 9, 9, 9 })
    H.close(out[8][7], { 9, 9, 9 })
    H.close(tr.pad(image, 1):size(), { 4, 5, 3 })
    H.close(tr.pad(image, 1)[1][1], { 0, 0, 0 })
    H.close(tr.pad(image, { 2, 1 }):size(), { 4, 7, 3 })
    H.close(tr.pad(image, 0), image)
    H.close(tr.pad(transposed_view(image), { 1, 2, 3, 4 }, 9), out)
    local floats = tr.pad(chw(image), { 1, 2, 3, 4 }, -0.5)
    H.close(floats:size(), { 3, 8, 7 })
    H.close(floats[3][1][1], -0.5)
    H.close(floats:narrow(2, 3, 2):narrow(3, 2, 3), chw(image))
  end)

  it("raises on bad padding and fill", function()
    H.raises(function() local _ = tr.pad(image, -1) end, "oml.transforms.pad: the padding must be a non-negative integer (got -1)")
    H.raises(function() local _ = tr.pad(image, { 1, 2, 3 }) end,
      "oml.transforms.pad: padding must be a number or a list of 2 or 4 numbers (got table)")
    H.raises(function() local _ = tr.pad(image, 1, 256) end,
      "oml.transforms.pad: the fill value of a uint8 image must be an integer in 0..255 (got 256)")
    H.raises(function() local _ = tr.pad(image, 1, 0.5) end, "must be an integer in 0..255 (got 0.5)")
    H.raises(function() local _ = tr.pad(chw(image), 1, 0 / 0) end, "oml.transforms.pad: the fill value must be finite")
  end)
end)

describe("transforms.normalize", function()
  it("gives float32 CHW as torchvision's ToTensor then Normalize", function()
    local expected = load("normalize_17x23.txt", "float32")
    for _, image in ipairs { big, transposed_view(big), narrowed_view(big) } do
      local out = tr.normalize(image)
      assert.are.equal("float32", out.dtype)
      H.close(out:size(), { 3, 17, 23 })
      assert.is_true(max_diff(out, expected) < 1e-6)
    end
  end)

  it("takes its own mean and std", function()
    local out = tr.normalize(coords_image(1, 2), { 0, 0.5, 1 }, { 1, 2, 0.5 })
    H.close(out, { { { 1 / 255, 1 / 255 } }, { { (1 / 255 - 0.5) / 2, (2 / 255 - 0.5) / 2 } },
      { { (102 / 255 - 1) / 0.5, (103 / 255 - 1) / 0.5 } } }, 1e-6)
  end)

  it("raises on bad images, means and stds", function()
    H.raises(function() local _ = tr.normalize(chw(big)) end,
      "oml.transforms.normalize: the image must be uint8 [H,W,3] (got float32 [3,H,W])")
    H.raises(function() local _ = tr.normalize(big, { 0, 0 }) end, "oml.transforms.normalize: mean must be a list of 3 numbers")
    H.raises(function() local _ = tr.normalize(big, nil, { 1, 0, 1 }) end, "oml.transforms.normalize: std 2 must be positive (got 0)")
    H.raises(function() local _ = tr.normalize(big, { 0, 1 / 0, 0 }) end, "oml.transforms.normalize: mean 2 must be finite (got inf)")
    H.raises(function() local _ = tr.normalize(big, { 0, "a", 0 }) end, "oml.transforms.normalize: mean must be a number (got string)")
  end)
end)

describe("transforms.random_resized_crop", function()
  local image = coords_image(12, 16)

  it("gives the same crops for the same seed and the asked size", function()
    local a = tr.random_resized_crop(image, { 5, 7 }, { generator = oml.Generator(3) })
    local b = tr.random_resized_crop(image, { 5, 7 }, { generator = oml.Generator(3) })
    H.close(a:size(), { 5, 7, 3 })
    H.close(a, b)
    oml.manual_seed(11)
    local c = tr.random_resized_crop(image, 6)
    oml.manual_seed(11)
    H.close(tr.random_resized_crop(image, 6), c)
    H.close(c:size(), { 6, 6, 3 })
    H.close(tr.random_resized_crop(chw(image), 6, { generator = oml.Generator(3) }):size(), { 3, 6, 6 })
  end)

  it("draws different boxes, each inside the image and smaller than it", function()
    local g, corners = oml.Generator(5), {}
    for _ = 1, 50 do
      -- the crop's first pixel lies near its box's corner (the coords image keeps {y, x})
      local out = tr.random_resized_crop(image, { 12, 16 }, { generator = g, scale = { 0.2, 0.6 } })
      local y, x = out[1][1][1], out[1][1][2]
      assert.is_true(y >= 1 and y <= 12 and x >= 1 and x <= 16)
      assert.is_true(out[12][16][1] - y < 11 or out[12][16][2] - x < 15) -- at most 60% of the area
      corners[y * 100 + x] = true
    end
    local distinct = 0
    for _ in pairs(corners) do distinct = distinct + 1 end
    assert.is_true(distinct > 10)
  end)

  it("is the whole image when scale and ratio leave no choice", function()
    local out = tr.random_resized_crop(big, { 7, 5 }, { scale = { 1, 1 }, ratio = { 23 / 17, 23 / 17 } })
    H.close(out, tr.resize(big, { 7, 5 }))
  end)

  it("falls back to the centred box of the clamped ratio, as torchvision", function()
    -- 4x40 with ratio 1: no 4x40-area square fits, so the box is 4x4 at column 19
    local wide = coords_image(4, 40)
    local out = tr.random_resized_crop(wide, 8, { scale = { 1, 1 }, ratio = { 1, 1 } })
    H.close(out, tr.resize(tr.crop(wide, 1, 19, 4, 4), 8))
  end)

  it("raises on bad options", function()
    H.raises(function() local _ = tr.random_resized_crop(image, 4, { scale = { 0, 1 } }) end,
      "oml.transforms.random_resized_crop: scale must be {low, high} with 0 < low <= high (got table)")
    H.raises(function() local _ = tr.random_resized_crop(image, 4, { ratio = { 2, 1 } }) end,
      "oml.transforms.random_resized_crop: ratio must be {low, high} with 0 < low <= high")
    H.raises(function() local _ = tr.random_resized_crop(image, 4, { generator = 3 }) end,
      "oml.transforms.random_resized_crop: the generator must be an oml.Generator (got number)")
    H.raises(function() local _ = tr.random_resized_crop(image, 4, { sclae = { 0.5, 1 } }) end,
      "oml.transforms.random_resized_crop: unknown option")
    H.raises(function() local _ = tr.random_resized_crop(image, { 4, 0 }) end,
      "oml.transforms.random_resized_crop: the width must be positive (got 0)")
  end)
end)

describe("transforms.random_hflip", function()
  local image = coords_image(3, 4)

  it("flips with probability p, seeded", function()
    H.close(tr.random_hflip(image, 1), tr.hflip(image))
    H.close(tr.random_hflip(narrowed_view(image), 0), image)
    local g, flips = oml.Generator(9), 0
    for _ = 1, 200 do
      if tr.random_hflip(image, 0.5, g)[1][1][2] == 4 then flips = flips + 1 end
    end
    assert.is_true(flips > 70 and flips < 130)
    local a, b = {}, {}
    local ga, gb = oml.Generator(4), oml.Generator(4)
    for i = 1, 10 do
      a[i] = tr.random_hflip(image, 0.5, ga)[1][1][2]
      b[i] = tr.random_hflip(image, 0.5, gb)[1][1][2]
    end
    H.close(a, b)
  end)

  it("raises on bad p and generators", function()
    H.raises(function() local _ = tr.random_hflip(image, 1.5) end, "oml.transforms.random_hflip: p must be in [0, 1] (got 1.5)")
    H.raises(function() local _ = tr.random_hflip(image, 0.5, {}) end,
      "oml.transforms.random_hflip: the generator must be an oml.Generator (got table)")
  end)
end)

describe("transforms.adjust_*", function()
  -- expected: torchvision 0.14's adjust_* restated in make_expected.py
  it("match torchvision's uint8 results within 1", function()
    for _, case in ipairs {
      { tr.adjust_brightness, 1.3, "brightness_17x23_1.3.txt" },
      { tr.adjust_contrast, 0.6, "contrast_17x23_0.6.txt" },
      { tr.adjust_saturation, 1.7, "saturation_17x23_1.7.txt" },
      { tr.adjust_hue, 0.1, "hue_17x23_0.1.txt" },
      { tr.adjust_hue, -0.35, "hue_17x23_-0.35.txt" },
    } do
      local expected = load(case[3], "uint8")
      for _, image in ipairs { big, transposed_view(big), narrowed_view(big) } do
        local out = case[1](image, case[2])
        H.close(out:size(), { 17, 23, 3 })
        assert.is_true(max_diff(out, expected) <= 1, case[3])
      end
    end
  end)

  it("keep the image at factor 1 and shift 0", function()
    for _, fn in ipairs { tr.adjust_brightness, tr.adjust_contrast, tr.adjust_saturation } do H.close(fn(big, 1), big) end
    assert.is_true(max_diff(tr.adjust_hue(big, 0), big) <= 1)
    H.close(tr.adjust_saturation(coords_image(1, 1), 0), { { { 12, 12, 12 } } }) -- 0.2989 + 0.587 * 2 + 0.114 * 103
    H.close(tr.adjust_brightness(coords_image(1, 1), 3), { { { 3, 3, 255 } } })
  end)

  it("raise on bad factors and float images", function()
    H.raises(function() local _ = tr.adjust_brightness(big, -1) end,
      "oml.transforms.adjust_brightness: the brightness factor must be non-negative (got -1)")
    H.raises(function() local _ = tr.adjust_contrast(big, 1 / 0) end,
      "oml.transforms.adjust_contrast: the contrast factor must be finite (got inf)")
    H.raises(function() local _ = tr.adjust_hue(big, 0.6) end,
      "oml.transforms.adjust_hue: the hue shift must be in [-0.5, 0.5] (got 0.6)")
    H.raises(function() local _ = tr.adjust_saturation(chw(big), 1) end,
      "oml.transforms.adjust_saturation: the image must be uint8 [H,W,3] (got float32 [3,H,W])")
    H.raises(function() local _ = tr.adjust_saturation(big, "x") end,
      "oml.transforms.adjust_saturation: the factor must be a number (got string)")
  end)
end)

describe("transforms.color_jitter", function()
  it("is seeded and keeps the image without options", function()
    local opts = { brightness = 0.3, contrast = 0.3, saturation = 0.3, hue = 0.1 }
    opts.generator = oml.Generator(8)
    local a = tr.color_jitter(big, opts)
    opts.generator = oml.Generator(8)
    H.close(tr.color_jitter(big, opts), a)
    H.close(a:size(), { 17, 23, 3 })
    assert.is_true(max_diff(a, big) > 0)
    H.close(tr.color_jitter(big), big)
    H.close(tr.color_jitter(narrowed_view(big), { brightness = 0 }), big)
  end)

  it("applies one jitter as the adjust_ function with a factor in range", function()
    local g = oml.Generator(1)
    for _ = 1, 20 do
      local out = tr.color_jitter(coords_image(1, 1), { brightness = 0.5, generator = g })
      -- brightness factor in [0.5, 1.5]: the blue 102 lands in [51, 153]
      assert.is_true(out[1][1][3] >= 51 and out[1][1][3] <= 153)
    end
  end)

  it("raises on bad options", function()
    H.raises(function() local _ = tr.color_jitter(big, { hue = 0.7 }) end, "oml.transforms.color_jitter: hue must be in [0, 0.5] (got 0.7)")
    H.raises(function() local _ = tr.color_jitter(big, { brightness = -1 }) end,
      "oml.transforms.color_jitter: brightness must be in [0, inf] (got -1)")
    H.raises(function() local _ = tr.color_jitter(big, { bright = 1 }) end, "oml.transforms.color_jitter: unknown option")
    H.raises(function() local _ = tr.color_jitter(chw(big), { hue = 0.1 }) end,
      "oml.transforms.color_jitter: the image must be uint8 [H,W,3]")
  end)
end)

describe("the engine's out argument", function()
  -- the Lua functions always allocate; a caller of the C API may pass out
  local C, T = require("oml.tensor").C, require "oml.tensor"
  local ffi = require "ffi"

  it("writes a set out in place and refuses a wrong or overlapping one", function()
    local out = oml.zeros({ 7, 5, 3 }, "uint8")
    assert.are.equal(0, C.oml_image_resize(big, out, 7, 5))
    H.close(out, tr.resize(big, { 7, 5 }))
    assert.are.equal(-1, C.oml_image_resize(big, oml.zeros({ 7, 6, 3 }, "uint8"), 7, 5))
    assert.are.equal(-1, C.oml_image_hflip(big, big))
    assert.truthy(ffi.string(C.oml_last_error()):find("the output overlaps the image", 1, true))
    local padded = tr.pad(big, 1)
    assert.are.equal(-1, C.oml_image_crop(padded, padded:narrow(1, 2, 17):narrow(2, 2, 23), 0, 0, 17, 23))
    assert.are.equal(-1, C.oml_image_normalize(big, T.new(), nil, nil))
    assert.truthy(ffi.string(C.oml_last_error()):find("mean and std must hold 3 values", 1, true))
  end)
end)

describe("OML's named sets", function()
  it("norm_resize_torch resizes to a square and normalises", function()
    local out = tr.norm_resize_torch(6)(big)
    H.close(out:size(), { 3, 6, 6 })
    H.close(out, tr.normalize(tr.resize(big, { 6, 6 })))
    local mean, std = { 0.5, 0.5, 0.5 }, { 0.25, 0.25, 0.25 }
    H.close(tr.norm_resize_torch(4, mean, std)(big), tr.normalize(tr.resize(big, { 4, 4 }), mean, std))
  end)

  it("augs_torch resizes, flips with a seeded generator, normalises", function()
    local transform = tr.augs_torch(5)
    local a, b = transform(big, oml.Generator(6)), transform(big, oml.Generator(6))
    H.close(a:size(), { 3, 5, 5 })
    H.close(a, b)
    local plain, flipped = tr.normalize(tr.resize(big, { 5, 5 })), tr.normalize(tr.hflip(tr.resize(big, { 5, 5 })))
    local g, flips = oml.Generator(2), 0
    for _ = 1, 40 do
      local out = transform(big, g)
      if max_diff(out, flipped) == 0 then flips = flips + 1 else H.close(out, plain) end
    end
    assert.is_true(flips > 5 and flips < 35)
  end)

  it("raise on bad sizes, means and stds", function()
    H.raises(function() local _ = tr.norm_resize_torch(0) end, "oml.transforms.norm_resize_torch: im_size must be positive (got 0)")
    H.raises(function() local _ = tr.augs_torch(4, { 1, 2 }) end, "oml.transforms.augs_torch: mean must be a list of 3 numbers")
  end)
end)
