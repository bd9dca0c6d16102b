-- oml.nn.ReLU([{inplace = false}]): max(x, 0). In place, the input is
-- overwritten with the output; backward still works from it, since the
-- output is positive exactly where the input was.
local nn = require "oml.nn"
local T = require "oml.tensor"
local F = require "oml.nn.functional"

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
  self.output = F.activation(NAME, C.OML_RELU, input, self.inplace and input or nil)
  return self.output
end

function ReLU:backward(input, grad_output)
  T.expect_set(input, NAME)
  self.grad_input = F.activation_backward(NAME, C.OML_RELU, input, grad_output)
  return self.grad_input
end

function ReLU:extra_repr() return self.inplace and "inplace=true" or "" end

return ReLU
