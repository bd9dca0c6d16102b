-- oml.data.transforms: image transforms run by the engine (engine/src/ops/
-- image.c). An image is uint8 [H, W, 3] (HWC, as oml.io.jpeg decodes it) or
-- float32 [3, H, W] (CHW, as normalize returns it); every transform keeps
-- the layout except normalize. Inputs may be any view (a narrowed or
-- transposed tensor); results are fresh contiguous tensors. Sizes are given
-- as a number or {height, width}, as in torchvision.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local M = {}

M.IMAGENET_MEAN = { 0.485, 0.456, 0.406 }
M.IMAGENET_STD = { 0.229, 0.224, 0.225 }

-- height and width of an image (the engine checks dtype and shape again)
local function image_hw(image, name)
  T.expect_set(image, name, "the image")
  if image.ndim_ ~= 3 or (image.dtype_ ~= T.UINT8 and image.dtype_ ~= T.FLOAT32) then
    T.raise(name, "the image must be uint8 [H,W,3] or float32 [3,H,W] (got %s)", T.show(image))
  end
  if image.dtype_ == T.UINT8 then return tonumber(image.size_[0]), tonumber(image.size_[1]) end
  return tonumber(image.size_[1]), tonumber(image.size_[2])
end

local function positive(x, name, what)
  local n = T.integer(x, name, what)
  if n <= 0 then T.raise(name, "%s must be positive (got %d)", what, n) end
  return n
end

-- a size argument: n -> n, n; {h, w} -> h, w
local function size_hw(size, name)
  if type(size) == "number" then
    local n = positive(size, name, "the size")
    return n, n
  end
  if type(size) ~= "table" or T.is_tensor(size) or #size ~= 2 then
    T.raise(name, "the size must be a number or {height, width} (got %s)", T.show(size))
  end
  return positive(size[1], name, "the height"), positive(size[2], name, "the width")
end

-- resize(image, size) -> image: bilinear, antialiased when shrinking (as
-- PIL's BILINEAR and torchvision's resize with antialias=True). size
-- {h, w} is the result's size; a number n is its shorter side, the longer
-- one keeping the aspect ratio (rounded down), as in torchvision.
function M.resize(image, size)
  local name = "oml.transforms.resize"
  local h, w = image_hw(image, name)
  local out_h, out_w
  if type(size) == "number" then
    local short = positive(size, name, "the size")
    if h <= w then
      out_h, out_w = short, math.floor(short * w / h)
    else
      out_h, out_w = math.floor(short * h / w), short
    end
  else
    out_h, out_w = size_hw(size, name)
  end
  local out = T.new()
  T.check(C.oml_image_resize(image, out, out_h, out_w), name)
  return out
end

-- crop(image, top, left, height, width) -> image: the box whose first row
-- and column are top and left (1-based); it must lie inside the image.
function M.crop(image, top, left, height, width)
  local name = "oml.transforms.crop"
  image_hw(image, name)
  top, left = T.integer(top, name, "top"), T.integer(left, name, "left")
  local out = T.new()
  T.check(C.oml_image_crop(image, out, top - 1, left - 1, T.integer(height, name, "the height"),
    T.integer(width, name, "the width")), name)
  return out
end

-- box_crop(image, x_1, y_1, x_2, y_2) -> image: OML's bounding box (the
-- dataframe's columns): 0-based pixel edges, columns x_1 .. x_2 - 1 and rows
-- y_1 .. y_2 - 1, as image[y_1:y_2, x_1:x_2] in Python.
function M.box_crop(image, x_1, y_1, x_2, y_2)
  local name = "oml.transforms.box_crop"
  image_hw(image, name)
  x_1, y_1 = T.integer(x_1, name, "x_1"), T.integer(y_1, name, "y_1")
  x_2, y_2 = T.integer(x_2, name, "x_2"), T.integer(y_2, name, "y_2")
  if x_2 <= x_1 or y_2 <= y_1 then
    T.raise(name, "the box needs x_1 < x_2 and y_1 < y_2 (got x %d..%d, y %d..%d)", x_1, x_2, y_1, y_2)
  end
  local out = T.new()
  T.check(C.oml_image_crop(image, out, y_1, x_1, y_2 - y_1, x_2 - x_1), name)
  return out
end

-- ---- random transforms: seeded through oml's Philox generator --------------
-- Each call draws its numbers in one fill of the generator (opts.generator,
-- an oml.Generator, or the default one), so a seed fixes the results.

local generator_ct, generator_ptr_ct = ffi.typeof("oml_generator"), ffi.typeof("oml_generator *")

local function generator_of(g, name)
  if type(g) ~= "nil" and not (ffi.istype(generator_ct, g) or ffi.istype(generator_ptr_ct, g)) then
    T.raise(name, "the generator must be an oml.Generator (got %s)", T.kind(g))
  end
  return g
end

-- n uniform numbers in [0, 1) as a Lua list
local function uniforms(n, g, name)
  local t = T.empty({ n }, T.FLOAT64, T.CPU, name)
  T.check(C.oml_rand(t, g, 0, 1), name)
  local p, list = ffi.cast("const double *", t.data_), {}
  for i = 1, n do list[i] = p[i - 1] end
  return list
end

-- Python's round(): halves go to the even neighbour.
local function round_half_even(x)
  local k = math.floor(x)
  local rest = x - k
  if rest > 0.5 or (rest == 0.5 and k % 2 == 1) then k = k + 1 end
  return k
end

local function range_of(x, default, name, what)
  if x == nil then return default[1], default[2] end
  if type(x) ~= "table" or T.is_tensor(x) or #x ~= 2 or type(x[1]) ~= "number" or type(x[2]) ~= "number"
      or not (x[1] > 0 and x[1] <= x[2] and x[2] < math.huge) then
    T.raise(name, "%s must be {low, high} with 0 < low <= high (got %s)", what, T.show(x))
  end
  return x[1], x[2]
end

local RANDOM_RESIZED_CROP_OPTIONS = { scale = true, ratio = true, generator = true }
local ATTEMPTS = 10

-- The box of torchvision's RandomResizedCrop.get_params: up to 10 draws of
-- an area (a fraction of the image in scale) and an aspect ratio (log-uniform
-- in ratio) until the box fits, else the centred box of the clamped ratio.
-- Returns top, left (0-based), height, width.
local function random_box(h, w, scale, ratio, g, name)
  local u = uniforms(4 * ATTEMPTS, g, name)
  local area = h * w
  local log_low, log_high = math.log(ratio[1]), math.log(ratio[2])
  for a = 0, ATTEMPTS - 1 do
    local target = area * (scale[1] + (scale[2] - scale[1]) * u[4 * a + 1])
    local aspect = math.exp(log_low + (log_high - log_low) * u[4 * a + 2])
    local box_w = round_half_even(math.sqrt(target * aspect))
    local box_h = round_half_even(math.sqrt(target / aspect))
    if box_w > 0 and box_w <= w and box_h > 0 and box_h <= h then
      return math.floor(u[4 * a + 3] * (h - box_h + 1)), math.floor(u[4 * a + 4] * (w - box_w + 1)), box_h, box_w
    end
  end
  local box_h, box_w = h, w
  if w / h < ratio[1] then
    box_h = round_half_even(w / ratio[1])
  elseif w / h > ratio[2] then
    box_w = round_half_even(h * ratio[2])
  end
  return math.floor((h - box_h) / 2), math.floor((w - box_w) / 2), box_h, box_w
end

-- random_resized_crop(image, size [, {scale = {0.08, 1}, ratio = {3/4, 4/3},
-- generator = g}]) -> image of size ({h, w} or n for n x n): a random box
-- as torchvision's RandomResizedCrop picks it, resized (the resize reads
-- the box as a view: no copy).
function M.random_resized_crop(image, size, opts)
  local name = "oml.transforms.random_resized_crop"
  local h, w = image_hw(image, name)
  local out_h, out_w = size_hw(size, name)
  opts = opts == nil and {} or T.options(opts, name, RANDOM_RESIZED_CROP_OPTIONS)
  local scale = { range_of(opts.scale, { 0.08, 1 }, name, "scale") }
  local ratio = { range_of(opts.ratio, { 3 / 4, 4 / 3 }, name, "ratio") }
  local top, left, box_h, box_w = random_box(h, w, scale, ratio, generator_of(opts.generator, name), name)
  local hdim, wdim = 1, 2
  if image.dtype_ == T.FLOAT32 then hdim, wdim = 2, 3 end
  local box = image:narrow(hdim, top + 1, box_h):narrow(wdim, left + 1, box_w)
  local out = T.new()
  T.check(C.oml_image_resize(box, out, out_h, out_w), name)
  return out
end

-- random_hflip(image [, p = 0.5 [, generator]]) -> image mirrored with
-- probability p, else a copy
function M.random_hflip(image, p, g)
  local name = "oml.transforms.random_hflip"
  local h, w = image_hw(image, name)
  p = p == nil and 0.5 or T.scalar(p, name, "p")
  if not (p >= 0 and p <= 1) then T.raise(name, "p must be in [0, 1] (got %s)", tostring(p)) end
  local flip = uniforms(1, generator_of(g, name), name)[1] < p
  local out = T.new()
  if flip then
    T.check(C.oml_image_hflip(image, out), name)
  else
    T.check(C.oml_image_crop(image, out, 0, 0, h, w), name)
  end
  return out
end

-- center_crop(image, size) -> image: the centred box of that size, placed
-- as torchvision places it (top = round((H - h) / 2), Python's round); it
-- must fit in the image.
function M.center_crop(image, size)
  local name = "oml.transforms.center_crop"
  local h, w = image_hw(image, name)
  local crop_h, crop_w = size_hw(size, name)
  if crop_h > h or crop_w > w then
    T.raise(name, "the crop %dx%d is larger than the %dx%d image", crop_h, crop_w, h, w)
  end
  local out = T.new()
  T.check(C.oml_image_crop(image, out, round_half_even((h - crop_h) / 2), round_half_even((w - crop_w) / 2), crop_h,
    crop_w), name)
  return out
end

-- hflip(image) -> image mirrored left to right
function M.hflip(image)
  local name = "oml.transforms.hflip"
  image_hw(image, name)
  local out = T.new()
  T.check(C.oml_image_hflip(image, out), name)
  return out
end

-- pad(image, padding [, fill = 0]) -> image with constant borders; padding
-- as torchvision's: n (every side), {left/right, top/bottom} or
-- {left, top, right, bottom}.
function M.pad(image, padding, fill)
  local name = "oml.transforms.pad"
  image_hw(image, name)
  local p
  if type(padding) == "number" then
    p = { padding, padding, padding, padding }
  elseif type(padding) == "table" and not T.is_tensor(padding) and #padding == 2 then
    p = { padding[1], padding[2], padding[1], padding[2] }
  elseif type(padding) == "table" and not T.is_tensor(padding) and #padding == 4 then
    p = padding
  else
    T.raise(name, "padding must be a number or a list of 2 or 4 numbers (got %s)", T.show(padding))
  end
  local left, top = T.count(p[1], name, "the padding"), T.count(p[2], name, "the padding")
  local right, bottom = T.count(p[3], name, "the padding"), T.count(p[4], name, "the padding")
  local out = T.new()
  T.check(C.oml_image_pad(image, out, top, bottom, left, right, T.scalar(fill or 0, name, "the fill")), name)
  return out
end

-- ---- colour: uint8 [H, W, 3] only, as torchvision's adjust_* on uint8
-- tensors (float32 steps, truncated to uint8) ---------------------------------

local function adjuster(fn_name, c_name, what)
  local name = "oml.transforms." .. fn_name
  return function(image, factor)
    image_hw(image, name)
    local out = T.new()
    T.check(C[c_name](image, out, T.scalar(factor, name, what)), name)
    return out
  end
end

-- adjust_brightness(image, factor): blends with black (factor >= 0; 1 keeps)
M.adjust_brightness = adjuster("adjust_brightness", "oml_image_adjust_brightness", "the factor")
-- adjust_contrast(image, factor): blends with the image's mean gray
M.adjust_contrast = adjuster("adjust_contrast", "oml_image_adjust_contrast", "the factor")
-- adjust_saturation(image, factor): blends with each pixel's gray
M.adjust_saturation = adjuster("adjust_saturation", "oml_image_adjust_saturation", "the factor")
-- adjust_hue(image, shift): turns the HSV hue by shift in [-0.5, 0.5]
M.adjust_hue = adjuster("adjust_hue", "oml_image_adjust_hue", "the shift")

local COLOR_JITTER_OPTIONS = { brightness = true, contrast = true, saturation = true, hue = true, generator = true }
local JITTERS = { "brightness", "contrast", "saturation", "hue" }

-- color_jitter(image, {brightness =, contrast =, saturation =, hue =,
-- generator =}) -> image: as torchvision's ColorJitter: factors uniform in
-- [max(0, 1 - b), 1 + b] (brightness, contrast, saturation) and a hue shift
-- in [-h, h] (h <= 0.5), applied in a random order; a missing or 0 option
-- is skipped. The 8 numbers come from one fill of the generator.
function M.color_jitter(image, opts)
  local name = "oml.transforms.color_jitter"
  image_hw(image, name)
  if image.dtype_ ~= T.UINT8 then T.raise(name, "the image must be uint8 [H,W,3] (got %s)", T.show(image)) end
  opts = opts == nil and {} or T.options(opts, name, COLOR_JITTER_OPTIONS)
  local amounts = {}
  for i, key in ipairs(JITTERS) do
    local amount = opts[key] == nil and 0 or T.scalar(opts[key], name, key)
    local limit = key == "hue" and 0.5 or math.huge
    if not (amount >= 0 and amount <= limit) then
      T.raise(name, "%s must be in [0, %s] (got %s)", key, tostring(limit), tostring(amount))
    end
    amounts[i] = amount
  end
  local u = uniforms(8, generator_of(opts.generator, name), name)
  local order = { 1, 2, 3, 4 }
  table.sort(order, function(a, b) return u[a] < u[b] end)
  local out = image
  for _, i in ipairs(order) do
    local amount = amounts[i]
    if amount > 0 then
      local low, high = math.max(0, 1 - amount), 1 + amount
      if i == 4 then low, high = -amount, amount end
      out = M["adjust_" .. JITTERS[i]](out, low + (high - low) * u[4 + i])
    end
  end
  if out == image then out = M.crop(image, 1, 1, image_hw(image, name)) end
  return out
end

local function three_numbers(x, name, what)
  if type(x) ~= "table" or T.is_tensor(x) or #x ~= 3 then
    T.raise(name, "%s must be a list of 3 numbers (got %s)", what, T.show(x))
  end
  local values = ffi.new("double[3]")
  for c = 1, 3 do values[c - 1] = T.scalar(x[c], name, what) end
  return values
end

-- normalize(image [, mean, std]) -> float32 [3, H, W]: uint8 [H, W, 3] to
-- (x / 255 - mean[c]) / std[c] in float32, as torchvision's ToTensor then
-- Normalize; mean and std default to ImageNet's.
function M.normalize(image, mean, std)
  local name = "oml.transforms.normalize"
  image_hw(image, name)
  local out = T.new()
  T.check(C.oml_image_normalize(image, out, three_numbers(mean or M.IMAGENET_MEAN, name, "mean"),
    three_numbers(std or M.IMAGENET_STD, name, "std")), name)
  return out
end

-- ---- OML's named sets (oml/transforms/images/torchvision.py) ----------------
-- Each returns a function image -> float32 [3, im_size, im_size].

local function named_set_args(im_size, mean, std, name)
  local size = positive(im_size, name, "im_size")
  mean, std = mean or M.IMAGENET_MEAN, std or M.IMAGENET_STD
  three_numbers(mean, name, "mean")
  three_numbers(std, name, "std")
  return size, mean, std
end

-- norm_resize_torch(im_size [, mean, std]): OML's
-- get_normalisation_resize_torch: Resize((im_size, im_size), antialias),
-- ToTensor, Normalize.
function M.norm_resize_torch(im_size, mean, std)
  local size
  size, mean, std = named_set_args(im_size, mean, std, "oml.transforms.norm_resize_torch")
  return function(image) return M.normalize(M.resize(image, { size, size }), mean, std) end
end

-- augs_torch(im_size [, mean, std]): OML's get_augs_torch: Resize((im_size,
-- im_size), antialias), RandomHorizontalFlip, ColorJitter() (its defaults
-- change nothing, so it is left out), ToTensor, Normalize. The function
-- takes an optional generator for the flip: transform(image [, generator]).
function M.augs_torch(im_size, mean, std)
  local size
  size, mean, std = named_set_args(im_size, mean, std, "oml.transforms.augs_torch")
  return function(image, generator)
    return M.normalize(M.random_hflip(M.resize(image, { size, size }), 0.5, generator), mean, std)
  end
end

return M
