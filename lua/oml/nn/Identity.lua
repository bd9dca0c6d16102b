-- oml.nn.Identity(): passes its input through (arguments are ignored, as
-- PyTorch's); a placeholder where a layer is removed, such as a model's head.
local nn = require "oml.nn"

local Identity = nn.class("Identity", nn.Module)

function Identity:__init()
  nn.Module.__init(self)
end

function Identity:forward(input)
  self.output = input
  return input
end

function Identity:backward(_, grad_output)
  self.grad_input = grad_output
  return grad_output
end

return Identity
