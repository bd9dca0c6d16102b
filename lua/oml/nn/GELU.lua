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
  self.output = F.activation(NAME, self.kind, input)
  return self.output
end

function GELU:backward(input, grad_output)
  T.expect_set(input, NAME)
  self.grad_input = F.activation_backward(NAME, self.kind, input, grad_output)
  return self.grad_input
end

function GELU:extra_repr() return ("approximate=%q"):format(self.approximate) end

return GELU
