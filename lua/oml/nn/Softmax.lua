-- oml.nn.Softmax(dim): exp(x) / sum(exp(x)) along dim (1-based; negative
-- counts from the end), the maximum subtracted first.
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C
local NAME = "oml.nn.Softmax"
local Softmax = nn.class("Softmax", nn.Module)

function Softmax:__init(dim)
  nn.Module.__init(self)
  if dim == nil then T.raise(NAME, "dim must be given") end
  self.dim = T.integer(dim, NAME, "dim")
end

function Softmax:forward(input)
  T.expect_set(input, NAME)
  local out = T.new()
  T.check(C.oml_softmax_forward(input, out, T.cdim(input, self.dim, NAME), 0), NAME)
  self.output = out
  return out
end

-- from the forward's output, as PyTorch's
function Softmax:backward(input, grad_output)
  T.expect_set(input, NAME)
  T.expect_tensor(grad_output, NAME, "grad_output")
  local grad_input = T.new()
  T.check(C.oml_softmax_backward(self.output, grad_output, grad_input, T.cdim(input, self.dim, NAME), 0), NAME)
  self.grad_input = grad_input
  return grad_input
end

function Softmax:extra_repr() return ("dim=%d"):format(self.dim) end

return Softmax
