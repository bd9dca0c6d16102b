-- oml.data.ImageRecipe: what the data loader's C workers do to each image
-- (engine/src/cpu/loader.c), described once in Lua and run without Lua:
-- cut to the item's box, resize it whole or take torchvision's random
-- resized crop, flip, colour jitter, normalise to float32 [3, H, W].
--   oml.data.ImageRecipe{size = 224, crop = "random_resized_crop", hflip = 0.5}
--   oml.data.ImageRecipe.norm_resize_torch(224)   -- OML's validation set
--   oml.data.ImageRecipe.augs_torch(224)          -- OML's training set
-- The random draws of item k under seed s are Philox(s, k): the same
-- wherever and whenever the item is made.
local ffi = require "ffi"
local T = require "oml.tensor"
local transforms = require "oml.data.transforms"

local C = T.C
local NAME = "oml.data.ImageRecipe"
local CROPS = { resize = C.OML_RECIPE_RESIZE, random_resized_crop = C.OML_RECIPE_RANDOM_RESIZED_CROP }
local OPTIONS = {
  size = true, crop = true, scale = true, ratio = true, hflip = true, color_jitter = true, mean = true, std = true,
  dct_scaling = true,
}
local JITTERS = { brightness = true, contrast = true, saturation = true, hue = true }

local Recipe = {}
Recipe.__index = Recipe

local function size_of(size)
  if type(size) == "number" then size = { size, size } end
  if type(size) ~= "table" or T.is_tensor(size) or #size ~= 2 then
    T.raise(NAME, "size must be a number or {height, width} (got %s)", T.show(size))
  end
  for i = 1, 2 do
    local n = T.integer(size[i], NAME, "the size")
    if n < 1 or n > 65535 then T.raise(NAME, "the size must be 1..65535 (got %d)", n) end
  end
  return size[1], size[2]
end

local function pair(x, default, what)
  if x == nil then return default end
  if type(x) ~= "table" or T.is_tensor(x) or #x ~= 2 or type(x[1]) ~= "number" or type(x[2]) ~= "number" then
    T.raise(NAME, "%s must be {low, high} (got %s)", what, T.show(x))
  end
  return { x[1], x[2] }
end

local function three(x, default, what)
  x = x or default
  if type(x) ~= "table" or T.is_tensor(x) or #x ~= 3 then
    T.raise(NAME, "%s must be a list of 3 numbers (got %s)", what, T.show(x))
  end
  return { T.scalar(x[1], NAME, what), T.scalar(x[2], NAME, what), T.scalar(x[3], NAME, what) }
end

-- The engine checks these again; here they fail where the recipe is made.
local function check(r)
  local s, q = r.scale, r.ratio
  if not (s[1] > 0 and s[1] <= s[2] and s[2] <= 1) then
    T.raise(NAME, "scale must be {low, high} with 0 < low <= high <= 1 (got {%g, %g})", s[1], s[2])
  end
  if not (q[1] > 0 and q[1] <= q[2] and q[2] < math.huge) then
    T.raise(NAME, "ratio must be {low, high} with 0 < low <= high (got {%g, %g})", q[1], q[2])
  end
  if not (r.hflip >= 0 and r.hflip <= 1) then T.raise(NAME, "hflip must be in [0, 1] (got %g)", r.hflip) end
  for key, amount in pairs(r.color_jitter) do
    local limit = key == "hue" and 0.5 or 1e6
    if not (amount >= 0 and amount <= limit) then
      T.raise(NAME, "color_jitter.%s must be in [0, %g] (got %g)", key, limit, amount)
    end
  end
  for c = 1, 3 do
    if not (r.mean[c] > -math.huge and r.mean[c] < math.huge) then
      T.raise(NAME, "mean %d must be finite (got %g)", c, r.mean[c])
    end
    if not (r.std[c] > 0 and r.std[c] < math.huge) then
      T.raise(NAME, "std %d must be positive (got %g)", c, r.std[c])
    end
  end
end

-- ImageRecipe{size [, crop = "resize"] [, scale = {0.08, 1}] [, ratio =
-- {3/4, 4/3}] [, hflip = 0] [, color_jitter = {brightness =, contrast =,
-- saturation =, hue =}] [, mean, std = ImageNet's] [, dct_scaling = true]}
local function new(args)
  if type(args) ~= "table" then T.raise(NAME, "expected a table of arguments (got %s)", T.kind(args)) end
  T.options(args, NAME, OPTIONS)
  local r = setmetatable({}, Recipe)
  r.height, r.width = size_of(args.size)
  r.crop = args.crop or "resize"
  if CROPS[r.crop] == nil then
    T.raise(NAME, "crop must be 'resize' or 'random_resized_crop' (got %s)", T.show(args.crop))
  end
  r.scale, r.ratio = pair(args.scale, { 0.08, 1 }, "scale"), pair(args.ratio, { 3 / 4, 4 / 3 }, "ratio")
  r.hflip = args.hflip == nil and 0 or T.scalar(args.hflip, NAME, "hflip")
  local jitter = args.color_jitter or {}
  if type(jitter) ~= "table" then T.raise(NAME, "color_jitter must be a table (got %s)", T.kind(jitter)) end
  T.options(jitter, NAME, JITTERS)
  r.color_jitter = {}
  for key in pairs(JITTERS) do r.color_jitter[key] = T.scalar(jitter[key] or 0, NAME, key) end
  r.mean = three(args.mean, transforms.IMAGENET_MEAN, "mean")
  r.std = three(args.std, transforms.IMAGENET_STD, "std")
  r.dct_scaling = args.dct_scaling ~= false
  check(r)
  return r
end

-- The engine's struct, with the seed of the random draws.
function Recipe:cstruct(seed)
  local c = ffi.new("oml_image_recipe")
  c.height, c.width, c.crop, c.dct_scaling = self.height, self.width, CROPS[self.crop], self.dct_scaling and 1 or 0
  c.scale[0], c.scale[1], c.ratio[0], c.ratio[1] = self.scale[1], self.scale[2], self.ratio[1], self.ratio[2]
  c.flip_p = self.hflip
  local j = self.color_jitter
  c.brightness, c.contrast, c.saturation, c.hue = j.brightness, j.contrast, j.saturation, j.hue
  for i = 0, 2 do c.mean[i], c.std[i] = self.mean[i + 1], self.std[i + 1] end
  c.seed = seed
  return c
end

function Recipe:__tostring()
  return ("ImageRecipe(%dx%d, %s, hflip %g)"):format(self.height, self.width, self.crop, self.hflip)
end

local M = setmetatable({ new = new }, { __call = function(_, args) return new(args) end })

M.is_recipe = function(x) return getmetatable(x) == Recipe end

-- OML's get_normalisation_resize_torch: the (boxed) image resized to
-- im_size x im_size, normalised.
function M.norm_resize_torch(im_size, mean, std)
  return new { size = im_size, mean = mean, std = std }
end

-- OML's get_augs_torch, as oml.data.transforms.augs_torch: resize, random
-- horizontal flip, normalise (its ColorJitter() changes nothing).
function M.augs_torch(im_size, mean, std)
  return new { size = im_size, hflip = 0.5, mean = mean, std = std }
end

return M
