-- oml.nn.Flatten([{start_dim = 2, end_dim = -1}]): merges the dims
-- start_dim..end_dim (1-based, as PyTorch's nn.Flatten(1, -1) keeps the
-- batch dim).
local nn = require "oml.nn"
local T = require "oml.tensor"

local NAME = "oml.nn.Flatten"
local Flatten = nn.class("Flatten", nn.Module)

function Flatten:__init(opts)
  nn.Module.__init(self)
  opts = T.options(opts, NAME, { start_dim = true, end_dim = true })
  self.start_dim = T.integer(opts.start_dim or 2, NAME, "start_dim")
  self.end_dim = T.integer(opts.end_dim or -1, NAME, "end_dim")
end

function Flatten:forward(input)
  T.expect_set(input, NAME)
  local s, e = T.cdim(input, self.start_dim, NAME), T.cdim(input, self.end_dim, NAME)
  if s > e then T.raise(NAME, "start_dim %d comes after end_dim %d for a %d-d input", s + 1, e + 1, input.ndim_) end
  local sizes, merged = {}, 1
  for d = 0, input.ndim_ - 1 do
    local n = tonumber(input.size_[d])
    if d < s or d > e then
      sizes[#sizes + 1] = n
    else
      merged = merged * n
      if d == e then sizes[#sizes + 1] = merged end
    end
  end
  self.output = input:reshape(sizes)
  return self.output
end

function Flatten:backward(input, grad_output)
  T.expect_set(input, NAME)
  T.expect_set(grad_output, NAME, "grad_output")
  if tonumber(grad_output.numel_) ~= tonumber(input.numel_) then
    T.raise(NAME, "grad_output has shape %s but the input has shape %s", T.shape_str(grad_output),
            T.shape_str(input))
  end
  self.grad_input = grad_output:reshape(input:size())
  return self.grad_input
end

function Flatten:extra_repr() return ("start_dim=%d, end_dim=%d"):format(self.start_dim, self.end_dim) end

return Flatten
