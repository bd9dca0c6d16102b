-- oml.nn.Linear(in_features, out_features [, {bias = true}]): y = x W^T + b
-- on the last dim of an input of any leading shape ([..., in] -> [..., out]),
-- through one GEMM on a 2-d view. Parameters as PyTorch's: weight
-- [out, in], bias [out].
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C
local NAME = "oml.nn.Linear"
local Linear = nn.class("Linear", nn.Module)

function Linear:__init(in_features, out_features, opts)
  nn.Module.__init(self)
  self.in_features = T.count(in_features, NAME, "in_features")
  self.out_features = T.count(out_features, NAME, "out_features")
  opts = T.options(opts, NAME, { bias = true })
  self:register_parameter("weight", oml.empty { out_features, in_features })
  if opts.bias ~= false then self:register_parameter("bias", oml.empty { out_features }) end
  self:reset_parameters()
end

-- PyTorch's default: kaiming_uniform_(a = sqrt(5)) for the weight, which is
-- U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias (0 without inputs).
function Linear:reset_parameters()
  if self.in_features == 0 then
    self.weight:zero_()
    if self.bias then self.bias:zero_() end
    return self
  end
  local bound = 1 / math.sqrt(self.in_features)
  self.weight:uniform_(-bound, bound)
  if self.bias then self.bias:uniform_(-bound, bound) end
  return self
end

-- The number of rows of the 2-d view [rows, size] of t, whose last dim must be size.
local function rows(t, size, what)
  T.expect_set(t, NAME, what)
  local nd = t.ndim_
  if nd == 0 or tonumber(t.size_[nd - 1]) ~= size then
    T.raise(NAME, "%s must have shape [..., %d] (got %s)", what, size, T.shape_str(t))
  end
  local n = 1
  for d = 0, nd - 2 do n = n * tonumber(t.size_[d]) end
  return n
end

local function with_last(t, size)
  local s = t:size()
  s[#s] = size
  return s
end

function Linear:forward(input)
  local n = rows(input, self.in_features, "the input")
  local x = input:reshape(n, self.in_features)
  local out = T.new()
  if self.bias then
    T.check(C.oml_addmm(self.bias, x, self.weight:t(), out, 1, 1), NAME)
  else
    T.check(C.oml_mm(x, self.weight:t(), out), NAME)
  end
  self.output = out:view(with_last(input, self.out_features))
  return self.output
end

function Linear:backward(input, grad_output)
  local n = rows(input, self.in_features, "the input")
  if rows(grad_output, self.out_features, "grad_output") ~= n then
    T.raise(NAME, "grad_output has shape %s but the input has shape %s", T.shape_str(grad_output),
            T.shape_str(input))
  end
  local g = grad_output:reshape(n, self.out_features)
  local grad_input = T.new()
  T.check(C.oml_mm(g, self.weight, grad_input), NAME)
  local grad_weight = self:grad("weight")
  if grad_weight then
    T.check(C.oml_addmm(grad_weight, g:t(), input:reshape(n, self.in_features), grad_weight, 1, 1), NAME)
  end
  local grad_bias = self.bias and self:grad("bias")
  if grad_bias then grad_bias:add_(g:sum(1)) end
  self.grad_input = grad_input:view(input:size())
  return self.grad_input
end

function Linear:extra_repr()
  return ("in_features=%d, out_features=%d, bias=%s"):format(self.in_features, self.out_features,
                                                            tostring(self.bias ~= nil))
end

return Linear
