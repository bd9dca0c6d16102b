-- Bicubic interpolation (oml.nn.functional.interpolate_bicubic and its
-- backward; engine/src/ops/interpolate.c). Expected values:
-- spec/fixtures/nn/make_act.py (torch 1.13's F.interpolate(mode="bicubic")
-- with sizes and scale factors, align_corners false and true, and DINO's
-- interpolate_pos_encoding call; forward and autograd), read from
-- act.safetensors.
local oml = require "oml"
local nn = require "oml.nn"
local F = require "oml.nn.functional"
local H = require "helper"
local J = require "jacobian"

local FX = oml.load("spec/fixtures/nn/act.safetensors")

local CASES = {
  size = { { size = { 9, 4 } }, false },
  size_aligned = { { size = { 9, 4 } }, true },
  scale = { { scale_factor = { 1.7, 0.6 } }, false },
  scale_aligned = { { scale_factor = { 1.7, 0.6 } }, true },
  one = { { size = { 1, 1 } }, true },
}

-- the functions as a module, for the Jacobian checker
local Bicubic = nn.class("Bicubic", nn.Module)
function Bicubic:__init(opts, align_corners)
  nn.Module.__init(self)
  self.opts, self.align_corners = opts, align_corners
end
function Bicubic:forward(x) return F.interpolate_bicubic(x, self.opts, self.align_corners) end
function Bicubic:backward(x, g)
  return F.interpolate_bicubic_backward(g, { x:size(3), x:size(4) }, self.opts, self.align_corners)
end

describe("oml.nn.functional.interpolate_bicubic", function()
  local x = FX["bicubic.x"]

  it("matches PyTorch with sizes and scale factors, corners aligned or not", function()
    for case, c in pairs(CASES) do
      local name = "bicubic_" .. case
      H.close(F.interpolate_bicubic(x, c[1], c[2]), FX[name .. ".y"], 1e-12)
      H.close(F.interpolate_bicubic_backward(FX[name .. ".g"], { 5, 7 }, c[1], c[2]), FX[name .. ".gx"], 1e-12)
    end
    -- align_corners in the options table
    H.close(F.interpolate_bicubic(x, { size = { 9, 4 }, align_corners = true }), FX["bicubic_size_aligned.y"], 1e-12)
  end)

  it("matches PyTorch in float32 within its rounding", function()
    for _, case in ipairs { "size", "scale" } do
      local c, name = CASES[case], "bicubic_" .. case
      H.close(F.interpolate_bicubic(x:float(), c[1], c[2]), FX[name .. "_f32.y"], 2e-6)
      H.close(F.interpolate_bicubic_backward(FX[name .. ".g"]:float(), { 5, 7 }, c[1], c[2]), FX[name .. "_f32.gx"],
        2e-6)
    end
  end)

  it("interpolates position embeddings as DINO's interpolate_pos_encoding", function()
    -- a 4x4 grid of 6-d embeddings for 6x3 patches: scale factors (w0 + 0.1) / sqrt(N), (h0 + 0.1) / sqrt(N)
    local grid = FX["dino.pos"]:reshape(1, 4, 4, 6):permute(1, 4, 2, 3) -- a non-contiguous view
    local opts = { scale_factor = { 6.1 / 4, 3.1 / 4 } }
    local y = F.interpolate_bicubic(grid, opts)
    H.close(y:size(), { 1, 6, 6, 3 })
    H.close(y, FX["dino.y"], 1e-12)
    H.close(F.interpolate_bicubic_backward(FX["dino.g"], { 4, 4 }, opts), FX["dino.gx"], 1e-12)
  end)

  it("is the identity at the same size, and writes non-contiguous gradients right", function()
    H.close(F.interpolate_bicubic(x, { size = { 5, 7 } }), x, 1e-15)
    H.close(F.interpolate_bicubic(x, { scale_factor = 1 }), x, 1e-15)
    local g = FX["bicubic_size.g"]
    local gt = g:transpose(3, 4):contiguous():transpose(3, 4)
    H.close(F.interpolate_bicubic_backward(gt, { 5, 7 }, { size = { 9, 4 } }), FX["bicubic_size.gx"], 1e-12)
    H.close(F.interpolate_bicubic(oml.empty { 0, 3, 4, 4 }, { size = 2 }):size(), { 0, 3, 2, 2 })
  end)

  it("gives the same values for any thread count", function()
    local big = oml.randn { 2, 64, 14, 14 }
    local threads = oml.get_num_threads()
    oml.set_num_threads(1)
    local one = F.interpolate_bicubic(big, { size = { 20, 17 } })
    local gone = F.interpolate_bicubic_backward(one, { 14, 14 }, { size = { 20, 17 } })
    oml.set_num_threads(2)
    local two = F.interpolate_bicubic(big, { size = { 20, 17 } })
    local gtwo = F.interpolate_bicubic_backward(one, { 14, 14 }, { size = { 20, 17 } })
    oml.set_num_threads(threads)
    H.close(two, one, 0)
    H.close(gtwo, gone, 0)
  end)

  it("passes the Jacobian check", function()
    local x64 = oml.randn({ 1, 2, 4, 5 }, { dtype = "float64" })
    J.check(Bicubic({ size = { 7, 3 } }, false), x64)
    J.check(Bicubic({ size = { 7, 3 } }, true), x64)
    J.check(Bicubic({ scale_factor = { 1.3, 2.2 } }, false), x64)
  end)

  it("names the function and the problem in its errors", function()
    local name = "oml.nn.functional.interpolate_bicubic"
    H.raises(function() local _ = F.interpolate_bicubic(oml.zeros { 3, 4, 4 }, { size = 2 }) end,
      name .. ": the input must be 4-d [N,C,H,W] (got shape [3,4,4])")
    H.raises(function() local _ = F.interpolate_bicubic(x, { size = 2, scale_factor = 2 }) end,
      name .. ": give exactly one of size and scale_factor")
    H.raises(function() local _ = F.interpolate_bicubic(x, {}) end, name .. ": give exactly one of size and scale_factor")
    H.raises(function() local _ = F.interpolate_bicubic(x) end,
      name .. ": options must be a table {size = {h, w}} or {scale_factor = {sh, sw}} (got nil)")
    H.raises(function() local _ = F.interpolate_bicubic(x, { scale_factor = { 2, -1 } }) end,
      name .. ": scale factors must be finite and > 0 (got -1)")
    H.raises(function() local _ = F.interpolate_bicubic(x, { scale_factor = 0.1 }) end,
      name .. ": the output size must be >= 1 (got 0 x 0)")
    H.raises(function() local _ = F.interpolate_bicubic(x, { size = { 0, 3 } }) end,
      name .. ": the output size must be >= 1 (got 0 x 3)")
    H.raises(function() local _ = F.interpolate_bicubic(x, { size = { 2, 3, 4 } }) end,
      name .. ": size must be a number or a list of two numbers")
    H.raises(function() local _ = F.interpolate_bicubic(x, { size = 2 }, "yes") end,
      name .. ": align_corners must be a boolean (got string)")
    H.raises(function() local _ = F.interpolate_bicubic(x, { sizes = 2 }) end, name .. ": unknown option 'sizes'")
    H.raises(function() local _ = F.interpolate_bicubic(x:long(), { size = 2 }) end,
      name .. ": the input is int64; expected float32 or float64")
    H.raises(function() local _ = F.interpolate_bicubic(oml.zeros { 1, 1, 0, 3 }, { size = 2 }) end,
      name .. ": the input's height and width must be >= 1 (got 0 x 3)")
    H.raises(function() local _ = F.interpolate_bicubic_backward(oml.zeros { 2, 3, 9, 4 }, { 5, 7 }, { size = 3 }) end,
      "oml.nn.functional.interpolate_bicubic_backward: grad_output has shape [2,3,9,4] but the forward's output is 3 x 3")
  end)
end)
