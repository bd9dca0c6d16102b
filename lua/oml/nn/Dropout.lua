-- oml.nn.Dropout([p = 0.5]): in training, zeroes each element with
-- probability p and scales the others by 1/(1-p); the mask is drawn with
-- bernoulli_ from oml's default generator (oml.manual_seed makes it
-- repeatable) and kept for backward. In evaluation (and for p = 0) it is
-- the identity: the input itself is returned.
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"

local NAME = "oml.nn.Dropout"
local Dropout = nn.class("Dropout", nn.Module)

function Dropout:__init(p)
  nn.Module.__init(self)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    T.raise(NAME, "p must be a number in [0, 1] (got %s)", T.show(p))
  end
  self.p = p
end

function Dropout:forward(input)
  T.expect_set(input, NAME)
  self.mask = nil
  if not self.training or self.p == 0 then
    self.output = input
    return input
  end
  local mask = oml.empty_like(input):bernoulli_(1 - self.p)
  if self.p < 1 then mask:mul_(1 / (1 - self.p)) end
  self.mask = mask
  self.output = input * mask
  return self.output
end

function Dropout:backward(_, grad_output)
  T.expect_tensor(grad_output, NAME, "grad_output")
  self.grad_input = self.mask and grad_output * self.mask or grad_output
  return self.grad_input
end

function Dropout:extra_repr() return ("p=%g"):format(self.p) end

return Dropout
