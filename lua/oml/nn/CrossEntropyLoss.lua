-- oml.nn.CrossEntropyLoss(): PyTorch's cross entropy with mean reduction,
-- -mean_i log_softmax(input_i)[target_i], for logits [N,C] and int64 class
-- indices [N], 1-based as every index in oml. backward(input, target)
-- returns (softmax(input) - onehot(target)) / N.
local nn = require "oml.nn"
local T = require "oml.tensor"
local F = require "oml.nn.functional"

local NAME = "oml.nn.CrossEntropyLoss"
local CrossEntropyLoss = nn.class("CrossEntropyLoss", nn.Criterion)

function CrossEntropyLoss:__init()
  nn.Criterion.__init(self)
end

local function check(input, target)
  T.expect_set(input, NAME, "the input")
  T.expect_set(target, NAME, "the target")
  if input:dim() ~= 2 or input:size(1) == 0 then
    T.raise(NAME, "expects logits [N,C] with N > 0 (got %s)", T.shape_str(input))
  end
  if target.dtype ~= "int64" or target:dim() ~= 1 or target:size(1) ~= input:size(1) then
    T.raise(NAME, "expects int64 class indices [%d] (got %s %s)", input:size(1), target.dtype, T.shape_str(target))
  end
  local low, high = target:min():item(), target:max():item()
  if low < 1 or high > input:size(2) then
    T.raise(NAME, "class indices must lie in 1..%d (got %d..%d)", input:size(2), low, high)
  end
  return target:view(target:size(1), 1)
end

function CrossEntropyLoss:forward(input, target)
  local index = check(input, target)
  self._log_probs = F.log_softmax(input, 2)
  self.output = -self._log_probs:gather(2, index):mean():item()
  return self.output
end

function CrossEntropyLoss:backward(input, target)
  local index = check(input, target)
  local g = self._log_probs:exp()
  g:scatter_(2, index, g:gather(2, index) - 1)
  self.grad_input = g:div_(input:size(1))
  return self.grad_input
end

return CrossEntropyLoss
