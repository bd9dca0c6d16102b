-- oml.nn.LayerNorm(normalized_shape, {eps = 1e-5, elementwise_affine = true}):
-- normalises over the last dim, of size normalized_shape (a number, or a
-- list of one number), as PyTorch's. Parameters weight (1) and bias (0).
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C

local LayerNorm = nn.class("LayerNorm", nn.Module)

function LayerNorm:__init(normalized_shape, opts)
  nn.Module.__init(self)
  local name = "oml.nn.LayerNorm"
  local d = normalized_shape
  if type(d) == "table" and not T.is_tensor(d) then
    if #d ~= 1 then
      T.raise(name, "normalizes over the last dim only: normalized_shape must be a number or a list of one "
        .. "(got %d sizes)", #d)
    end
    d = d[1]
  end
  if type(d) ~= "number" or d < 1 or d ~= math.floor(d) then
    T.raise(name, "normalized_shape must be a positive integer (got %s)", T.show(d))
  end
  opts = T.options(opts, name, { eps = true, elementwise_affine = true })
  self.normalized_shape = d
  self.eps = T.scalar(opts.eps == nil and 1e-5 or opts.eps, name, "eps")
  self.elementwise_affine = T.flag(opts.elementwise_affine, true, name, "elementwise_affine") == 1
  if self.elementwise_affine then
    self:register_parameter("weight", oml.empty({ d }))
    self:register_parameter("bias", oml.empty({ d }))
  end
  self:reset_parameters()
end

function LayerNorm:reset_parameters()
  if self.elementwise_affine then
    self.weight:fill(1)
    self.bias:zero()
  end
end

local function check_input(self, input)
  T.expect_set(input, "oml.nn.LayerNorm", "the input")
  if input.ndim_ < 1 or tonumber(input.size_[input.ndim_ - 1]) ~= self.normalized_shape then
    T.raise("oml.nn.LayerNorm", "expects an input whose last dim has size %d (got shape %s)", self.normalized_shape,
      T.shape_str(input))
  end
end

function LayerNorm:forward(input)
  check_input(self, input)
  local out, mean, invstd = T.new(), T.new(), T.new()
  T.check(C.oml_layer_norm_forward(input, out, self.weight, self.bias, mean, invstd, self.eps), "oml.nn.LayerNorm")
  self._save_mean, self._save_invstd = mean, invstd
  self.output = out
  return out
end

function LayerNorm:backward(input, grad_output)
  check_input(self, input)
  T.expect_set(grad_output, "oml.nn.LayerNorm", "grad_output")
  if self._save_mean == nil then T.raise("oml.nn.LayerNorm", "backward needs a forward pass first") end
  local gi = T.new()
  local gw, gb
  if self.elementwise_affine then gw, gb = self:grad("weight"), self:grad("bias") end
  T.check(C.oml_layer_norm_backward(input, grad_output, gi, self.weight, gw, gb, self._save_mean, self._save_invstd),
    "oml.nn.LayerNorm")
  self.grad_input = gi
  return gi
end

function LayerNorm:extra_repr()
  return ("(%d,), eps=%g, elementwise_affine=%s"):format(self.normalized_shape, self.eps,
    tostring(self.elementwise_affine))
end

return LayerNorm
