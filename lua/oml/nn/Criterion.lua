-- oml.nn.Criterion: the base of losses (Torch7's nn.Criterion contract):
-- forward(input, target) returns the loss (a number, also kept in
-- self.output), backward(input, target) returns the gradient of the loss
-- with respect to input. A criterion is a module, so a loss with its own
-- weights (ArcFace) has parameters, state dicts and optimizers like a layer.
local Module = require "oml.nn.Module"
local T = require "oml.tensor"

local Criterion = Module.class("Criterion", Module)

function Criterion:__init()
  Module.__init(self)
end

function Criterion:forward()
  T.raise("oml.nn." .. self.__name, "forward is not implemented")
end

function Criterion:backward()
  T.raise("oml.nn." .. self.__name, "backward is not implemented")
end

return Criterion
