-- oml.nn.Conv2d(in_channels, out_channels, kernel_size [, {stride = 1,
-- padding = 0, dilation = 1, groups = 1, bias = true}]): PyTorch's 2-d
-- convolution (zero padding). kernel_size, stride, padding and dilation are
-- each a number or {h, w}. Input [N,C,H,W] or [C,H,W]; parameters weight
-- [out, in/groups, kH, kW] and bias [out].
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"
local pool = require "oml.nn._pool"

local C = T.C
local NAME = "oml.nn.Conv2d"
local Conv2d = nn.class("Conv2d", nn.Module)

function Conv2d:__init(in_channels, out_channels, kernel_size, opts)
  nn.Module.__init(self)
  self.in_channels = T.count(in_channels, NAME, "in_channels")
  self.out_channels = T.count(out_channels, NAME, "out_channels")
  self.kernel_size = pool.pair(kernel_size, 1, NAME, "kernel_size")
  opts = T.options(opts, NAME, { stride = true, padding = true, dilation = true, groups = true, bias = true })
  self.stride = pool.pair(opts.stride or 1, 1, NAME, "stride")
  self.padding = pool.pair(opts.padding or 0, 0, NAME, "padding")
  self.dilation = pool.pair(opts.dilation or 1, 1, NAME, "dilation")
  local groups = opts.groups or 1
  if type(groups) ~= "number" or groups ~= math.floor(groups) or groups < 1 or groups >= 2 ^ 31 then
    T.raise(NAME, "groups must be a positive integer (got %s)", T.show(groups))
  end
  if in_channels % groups ~= 0 then
    T.raise(NAME, "in_channels (%d) must be divisible by groups (%d)", in_channels, groups)
  end
  if out_channels % groups ~= 0 then
    T.raise(NAME, "out_channels (%d) must be divisible by groups (%d)", out_channels, groups)
  end
  self.groups = groups
  local k = self.kernel_size
  self:register_parameter("weight", oml.empty { out_channels, in_channels / groups, k[1], k[2] })
  if T.flag(opts.bias, true, NAME, "bias") == 1 then self:register_parameter("bias", oml.empty { out_channels }) end
  self:reset_parameters()
end

-- PyTorch's default: kaiming_uniform_(a = sqrt(5)) for the weight, which is
-- U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in/groups * kH * kW, and
-- the same bound for the bias.
function Conv2d:reset_parameters()
  local fan_in = self.in_channels / self.groups * self.kernel_size[1] * self.kernel_size[2]
  if fan_in == 0 then
    self.weight:zero_()
    if self.bias then self.bias:zero_() end
    return self
  end
  local bound = 1 / math.sqrt(fan_in)
  self.weight:uniform_(-bound, bound)
  if self.bias then self.bias:uniform_(-bound, bound) end
  return self
end

-- The input as [N,C,H,W] (a [C,H,W] one becomes a batch of one).
local function batched(input)
  pool.check_input(input, NAME)
  if input.ndim_ == 3 then return input:unsqueeze(1) end
  return input
end

function Conv2d:forward(input)
  local x = batched(input)
  local s, p, d = self.stride, self.padding, self.dilation
  local out = T.new()
  T.check(C.oml_conv2d_forward(x, out, self.weight, self.bias, s[1], s[2], p[1], p[2], d[1], d[2], self.groups), NAME)
  if input.ndim_ == 3 then out = out:squeeze(1) end
  self.output = out
  return out
end

function Conv2d:backward(input, grad_output)
  local x = batched(input)
  T.expect_set(grad_output, NAME, "grad_output")
  local g = grad_output
  if input.ndim_ == 3 and g.ndim_ == 3 then g = g:unsqueeze(1) end
  local s, p, d = self.stride, self.padding, self.dilation
  local grad_input = self.input_grad and T.new() or nil
  T.check(C.oml_conv2d_backward(x, g, grad_input, self.weight, self:grad("weight"), self.bias and self:grad("bias"),
    s[1], s[2], p[1], p[2], d[1], d[2], self.groups), NAME)
  if grad_input and input.ndim_ == 3 then grad_input = grad_input:squeeze(1) end
  self.grad_input = grad_input
  return grad_input
end

local function tuple(pair) return ("(%d, %d)"):format(pair[1], pair[2]) end

-- As PyTorch's repr: padding, dilation, groups and bias only when not the default.
function Conv2d:extra_repr()
  local parts = { ("%d, %d, kernel_size=%s, stride=%s"):format(self.in_channels, self.out_channels,
    tuple(self.kernel_size), tuple(self.stride)) }
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then parts[#parts + 1] = "padding=" .. tuple(self.padding) end
  if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then parts[#parts + 1] = "dilation=" .. tuple(self.dilation) end
  if self.groups ~= 1 then parts[#parts + 1] = "groups=" .. self.groups end
  if not self.bias then parts[#parts + 1] = "bias=False" end
  return table.concat(parts, ", ")
end

return Conv2d
