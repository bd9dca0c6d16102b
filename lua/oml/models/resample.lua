-- oml.models.resample: PyTorch's separable resamplings that the engine has no
-- kernel for, as two small weight matrices: out = Wh @ x @ Ww^T over the
-- last two dims, so backward is Wh^T @ g @ Ww. Used for DINOv2's
-- antialiased bicubic position embeddings (F.interpolate(mode="bicubic",
-- antialias=True)) and OML's multi-scale inputs (mode="bilinear",
-- align_corners=False).
local oml = require "oml"

local M = {}

-- PyTorch's antialiasing filter for bicubic: Keys' cubic with a = -0.5
-- (aten/src/ATen/native/cpu/UpSampleKernel.cpp, aa_filter).
local function keys_cubic(x)
  local a = -0.5
  x = math.abs(x)
  if x < 1 then return ((a + 2) * x - (a + 3)) * x * x + 1 end
  if x < 2 then return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a end
  return 0
end

-- The rows of PyTorch's _compute_indices_weights_aa for in_size -> out_size
-- (align_corners = false, the scale in/out): a filter support widened by the
-- scale when shrinking, weights normalised to sum to 1.
local function antialiased_bicubic_rows(in_size, out_size)
  local scale = in_size / out_size
  local support = scale >= 1 and 2 * scale or 2
  local invscale = scale >= 1 and 1 / scale or 1
  local rows = {}
  for i = 0, out_size - 1 do
    local center = scale * (i + 0.5)
    local row = {}
    for j = 1, in_size do row[j] = 0 end
    local xmin = math.max((math.modf(center - support + 0.5)), 0)   -- C's truncation
    local xmax = math.min((math.modf(center + support + 0.5)), in_size)
    local total = 0
    for j = xmin, xmax - 1 do
      local w = keys_cubic((j - center + 0.5) * invscale)
      row[j + 1] = w
      total = total + w
    end
    if total ~= 0 then
      for j = xmin, xmax - 1 do row[j + 1] = row[j + 1] / total end
    end
    rows[i + 1] = row
  end
  return rows
end

-- upsample_bilinear2d's rows (align_corners = false) with PyTorch's source
-- scale: 1/scale_factor when one is given, else in/out.
local function bilinear_rows(in_size, out_size, scale_factor)
  local scale = scale_factor and 1 / scale_factor or in_size / out_size
  local rows = {}
  for i = 0, out_size - 1 do
    local row = {}
    for j = 1, in_size do row[j] = 0 end
    local src = math.max(scale * (i + 0.5) - 0.5, 0)
    local x0 = math.floor(src)
    local x1 = x0 < in_size - 1 and x0 + 1 or x0
    local l1 = src - x0
    row[x0 + 1] = row[x0 + 1] + (1 - l1)
    row[x1 + 1] = row[x1 + 1] + l1
    rows[i + 1] = row
  end
  return rows
end

-- A resampling of [..., H, W] to [..., out_h, out_w], its weights made with
-- opts {dtype=, device=} (those of the tensors it will resample):
--   M.antialiased_bicubic(H, W, out_h, out_w, opts)
--   M.bilinear(H, W, scale_factor, opts)   (out = floor(size * scale_factor))
local Resampler = {}
Resampler.__index = Resampler

local function resampler(rows_h, rows_w, opts)
  return setmetatable({
    wh = oml.tensor(rows_h, opts),
    wwt = oml.tensor(rows_w, opts):t():contiguous(),
    out_h = #rows_h, out_w = #rows_w,
  }, Resampler)
end

function M.antialiased_bicubic(h, w, out_h, out_w, opts)
  return resampler(antialiased_bicubic_rows(h, out_h), antialiased_bicubic_rows(w, out_w), opts)
end

function M.bilinear(h, w, scale_factor, opts)
  local out_h, out_w = math.floor(h * scale_factor), math.floor(w * scale_factor)
  return resampler(bilinear_rows(h, out_h, scale_factor), bilinear_rows(w, out_w, scale_factor), opts)
end

function Resampler:forward(x)
  return self.wh:matmul(x:matmul(self.wwt))
end

function Resampler:backward(g)
  return self.wh:t():matmul(g):matmul(self.wwt:t())
end

return M
