-- oml.nn._BatchNorm: what BatchNorm1d and BatchNorm2d share (PyTorch's
-- _BatchNorm). Training normalises with the batch's statistics and updates
-- the running ones (momentum, unbiased variance); evaluation uses the running
-- ones. momentum = false gives PyTorch's momentum=None: a cumulative average.
-- Parameters weight, bias; buffers running_mean, running_var,
-- num_batches_tracked (int64), named as in PyTorch's state dicts.
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C

local BatchNorm = nn.class("_BatchNorm", nn.Module)

function BatchNorm:__init(num_features, opts)
  nn.Module.__init(self)
  local name = "oml.nn." .. self.__name
  if type(num_features) ~= "number" or num_features < 1 or num_features ~= math.floor(num_features) then
    T.raise(name, "num_features must be a positive integer (got %s)", T.show(num_features))
  end
  opts = T.options(opts, name, { eps = true, momentum = true, affine = true, track_running_stats = true })
  self.num_features = num_features
  self.eps = T.scalar(opts.eps == nil and 1e-5 or opts.eps, name, "eps")
  if opts.momentum == false then
    self.momentum = false
  else
    self.momentum = T.scalar(opts.momentum == nil and 0.1 or opts.momentum, name, "momentum")
  end
  self.affine = T.flag(opts.affine, true, name, "affine") == 1
  self.track_running_stats = T.flag(opts.track_running_stats, true, name, "track_running_stats") == 1
  if self.affine then
    self:register_parameter("weight", oml.empty({ num_features }))
    self:register_parameter("bias", oml.empty({ num_features }))
  end
  if self.track_running_stats then
    self:register_buffer("running_mean", oml.empty({ num_features }))
    self:register_buffer("running_var", oml.empty({ num_features }))
    self:register_buffer("num_batches_tracked", oml.zeros({}, "int64"))
  end
  self:reset_parameters()
end

function BatchNorm:reset_running_stats()
  if not self.track_running_stats then return end
  self.running_mean:zero()
  self.running_var:fill(1)
  self.num_batches_tracked:zero()
end

-- PyTorch's init: running statistics reset, weight 1, bias 0.
function BatchNorm:reset_parameters()
  self:reset_running_stats()
  if self.affine then
    self.weight:fill(1)
    self.bias:zero()
  end
end

function BatchNorm:_check_input(input)
  local name = "oml.nn." .. self.__name
  T.expect_set(input, name, "the input")
  if not self.input_dims[input.ndim_] then
    T.raise(name, "expects %s input (got shape %s)", self.input_desc, T.shape_str(input))
  end
  if tonumber(input.size_[1]) ~= self.num_features then
    T.raise(name, "expects %d channels in dim 2 (got shape %s)", self.num_features, T.shape_str(input))
  end
end

-- Batch statistics in training, and also in evaluation without running statistics (as PyTorch).
function BatchNorm:_uses_batch_stats()
  return self.training or not self.track_running_stats
end

function BatchNorm:forward(input)
  self:_check_input(input)
  local batch_stats = self:_uses_batch_stats()
  local factor = 0
  if self.training and self.track_running_stats then
    self.num_batches_tracked:add_(1)
    factor = self.momentum == false and 1 / self.num_batches_tracked:item() or self.momentum
  end
  -- the running statistics (nil when not tracked) are updated in training and used in evaluation
  local out, save_mean, save_invstd = T.new(), T.new(), T.new()
  T.check(C.oml_batch_norm_forward(input, out, self.weight, self.bias, self.running_mean, self.running_var, save_mean,
    save_invstd, batch_stats and 1 or 0, factor, self.eps), "oml.nn." .. self.__name)
  self._save_mean, self._save_invstd, self._batch_stats = save_mean, save_invstd, batch_stats
  self.output = out
  return out
end

function BatchNorm:backward(input, grad_output)
  local name = "oml.nn." .. self.__name
  self:_check_input(input)
  T.expect_set(grad_output, name, "grad_output")
  local batch_stats = self._batch_stats
  if batch_stats == nil then T.raise(name, "backward needs a forward pass first") end
  local gi = T.new()
  local gw, gb
  if self.affine then gw, gb = self:grad("weight"), self:grad("bias") end
  T.check(C.oml_batch_norm_backward(input, grad_output, gi, self.weight, gw, gb, self.running_mean, self.running_var,
    self._save_mean, self._save_invstd, batch_stats and 1 or 0, self.eps), name)
  self.grad_input = gi
  return gi
end

function BatchNorm:extra_repr()
  return ("%d, eps=%g, momentum=%s, affine=%s, track_running_stats=%s"):format(self.num_features, self.eps,
    self.momentum == false and "None" or ("%g"):format(self.momentum), tostring(self.affine),
    tostring(self.track_running_stats))
end

return BatchNorm
