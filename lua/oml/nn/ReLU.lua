-- oml.nn.ReLU([{inplace = false}]): max(x, 0). In place, the input is
-- overwritten with the output; backward still works from it, since the
-- output is positive exactly where the input was.
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C
local NAME = "oml.nn.ReLU"
local ReLU = nn.class("ReLU", nn.Module)

function ReLU:__init(opts)
  nn.Module.__init(self)
  opts = T.options(opts, NAME, { inplace = true })
  self.inplace = T.flag(opts.inplace, false, NAME, "inplace") == 1
end

function ReLU:forward(input)
  T.expect_set(input, NAME)
  local out = self.inplace and input or T.new()
  T.check(C.oml_activation_forward(input, out, C.OML_RELU), NAME)
  self.output = out
  return out
end

function ReLU:backward(input, grad_output)
  T.expect_set(input, NAME)
  T.expect_tensor(grad_output, NAME, "grad_output")
  local grad_input = T.new()
  T.check(C.oml_activation_backward(input, grad_output, grad_input, C.OML_RELU), NAME)
  self.grad_input = grad_input
  return grad_input
end

function ReLU:extra_repr() return self.inplace and "inplace=true" or "" end

return ReLU
