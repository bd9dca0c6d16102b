-- oml.nn.AvgPool2d(kernel_size, {stride = kernel_size, padding = 0, ceil_mode = false,
-- count_include_pad = true}): each size a number or {h, w}, as PyTorch's.
local nn = require "oml.nn"
local T = require "oml.tensor"
local pool = require "oml.nn._pool"

local C = T.C
local NAME = "oml.nn.AvgPool2d"

local AvgPool2d = nn.class("AvgPool2d", nn.Module)

function AvgPool2d:__init(kernel_size, opts)
  nn.Module.__init(self)
  opts = T.options(opts, NAME, { stride = true, padding = true, ceil_mode = true, count_include_pad = true })
  self.kernel_size = pool.pair(kernel_size, 1, NAME, "kernel_size")
  self.stride = opts.stride == nil and self.kernel_size or pool.pair(opts.stride, 1, NAME, "stride")
  self.padding = pool.pair(opts.padding or 0, 0, NAME, "padding")
  self.ceil_mode = T.flag(opts.ceil_mode, false, NAME, "ceil_mode") == 1
  self.count_include_pad = T.flag(opts.count_include_pad, true, NAME, "count_include_pad") == 1
end

function AvgPool2d:_args()
  local k, s, p = self.kernel_size, self.stride, self.padding
  return k[1], k[2], s[1], s[2], p[1], p[2], self.ceil_mode and 1 or 0, self.count_include_pad and 1 or 0
end

function AvgPool2d:forward(input)
  pool.check_input(input, NAME)
  local out = T.new()
  T.check(C.oml_avg_pool2d_forward(input, out, self:_args()), NAME)
  self.output = out
  return out
end

function AvgPool2d:backward(input, grad_output)
  pool.check_input(input, NAME)
  T.expect_set(grad_output, NAME, "grad_output")
  local gi = T.new()
  T.check(C.oml_avg_pool2d_backward(input, grad_output, gi, self:_args()), NAME)
  self.grad_input = gi
  return gi
end

function AvgPool2d:extra_repr()
  return ("kernel_size=%s, stride=%s, padding=%s, ceil_mode=%s, count_include_pad=%s"):format(
    pool.pair_str(self.kernel_size), pool.pair_str(self.stride), pool.pair_str(self.padding), tostring(self.ceil_mode),
    tostring(self.count_include_pad))
end

return AvgPool2d
