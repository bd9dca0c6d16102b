-- oml.nn.GELU([{approximate = "none"}]): x Phi(x) (PyTorch's exact form,
-- through erf), or with approximate = "tanh" its tanh approximation.
local nn = require "oml.nn"
local T = require "oml.tensor"
local F = require "oml.nn.functional"

local C = T.C
local NAME = "oml.nn.GELU"
local GELU = nn.class("GELU", nn.Module)

function GELU:__init(opts)
  nn.Module.__init(self)
  self.kind = F.gelu_kind(opts, NAME)
  self.approximate = self.kind == C.OML_GELU_TANH and "tanh" or "none"
end

function GELU:forward(input)
  T.expect_set(input, NAME)
  local out = T.new()
  T.check(C.oml_activation_forward(input, out, self.kind), NAME)
  self.output = out
  return out
end

function GELU:backward(input, grad_output)
  T.expect_set(input, NAME)
  T.expect_tensor(grad_output, NAME, "grad_output")
  local grad_input = T.new()
  T.check(C.oml_activation_backward(input, grad_output, grad_input, self.kind), NAME)
  self.grad_input = grad_input
  return grad_input
end

function GELU:extra_repr() return ("approximate=%q"):format(self.approximate) end

return GELU
