-- oml.nn.MaxPool2d(kernel_size, {stride = kernel_size, padding = 0, dilation = 1,
-- ceil_mode = false}): each a number or {h, w}, as PyTorch's. The maximum's
-- positions are kept for backward; a NaN in a window wins.
local nn = require "oml.nn"
local T = require "oml.tensor"
local pool = require "oml.nn._pool"

local C = T.C
local NAME = "oml.nn.MaxPool2d"

local MaxPool2d = nn.class("MaxPool2d", nn.Module)

function MaxPool2d:__init(kernel_size, opts)
  nn.Module.__init(self)
  opts = T.options(opts, NAME, { stride = true, padding = true, dilation = true, ceil_mode = true })
  self.kernel_size = pool.pair(kernel_size, 1, NAME, "kernel_size")
  self.stride = opts.stride == nil and self.kernel_size or pool.pair(opts.stride, 1, NAME, "stride")
  self.padding = pool.pair(opts.padding or 0, 0, NAME, "padding")
  self.dilation = pool.pair(opts.dilation or 1, 1, NAME, "dilation")
  self.ceil_mode = T.flag(opts.ceil_mode, false, NAME, "ceil_mode") == 1
end

function MaxPool2d:forward(input)
  pool.check_input(input, NAME)
  local k, s, p, d = self.kernel_size, self.stride, self.padding, self.dilation
  local out, indices = T.new(), T.new()
  T.check(C.oml_max_pool2d_forward(input, out, indices, k[1], k[2], s[1], s[2], p[1], p[2], d[1], d[2],
    self.ceil_mode and 1 or 0), NAME)
  self.indices = indices
  self.output = out
  return out
end

function MaxPool2d:backward(input, grad_output)
  pool.check_input(input, NAME)
  T.expect_set(grad_output, NAME, "grad_output")
  if self.indices == nil then T.raise(NAME, "backward needs a forward pass first") end
  local gi = T.new()
  T.check(C.oml_max_pool2d_backward(input, grad_output, self.indices, gi), NAME)
  self.grad_input = gi
  return gi
end

function MaxPool2d:extra_repr()
  return ("kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s"):format(pool.pair_str(self.kernel_size),
    pool.pair_str(self.stride), pool.pair_str(self.padding), pool.pair_str(self.dilation), tostring(self.ceil_mode))
end

return MaxPool2d
