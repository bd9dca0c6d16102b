-- oml.nn.AdaptiveAvgPool2d(output_size): average pooling to output_size (a
-- number or {h, w}) whatever the input's size, with PyTorch's windows.
local nn = require "oml.nn"
local T = require "oml.tensor"
local pool = require "oml.nn._pool"

local C = T.C
local NAME = "oml.nn.AdaptiveAvgPool2d"

local AdaptiveAvgPool2d = nn.class("AdaptiveAvgPool2d", nn.Module)

function AdaptiveAvgPool2d:__init(output_size)
  nn.Module.__init(self)
  self.output_size = pool.pair(output_size, 1, NAME, "output_size")
end

function AdaptiveAvgPool2d:forward(input)
  pool.check_input(input, NAME)
  local out = T.new()
  T.check(C.oml_adaptive_avg_pool2d_forward(input, out, self.output_size[1], self.output_size[2]), NAME)
  self.output = out
  return out
end

function AdaptiveAvgPool2d:backward(input, grad_output)
  pool.check_input(input, NAME)
  T.expect_set(grad_output, NAME, "grad_output")
  local gi = T.new()
  T.check(C.oml_adaptive_avg_pool2d_backward(input, grad_output, gi), NAME)
  self.grad_input = gi
  return gi
end

function AdaptiveAvgPool2d:extra_repr()
  return "output_size=" .. pool.pair_str(self.output_size)
end

return AdaptiveAvgPool2d
