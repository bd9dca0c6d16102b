-- oml.nn.GEM(p, {eps = 1e-6}): generalised mean pooling, as OML's GEM
-- (oml/models/pooling.py): [N,C,H,W] -> [N,C], (mean over H,W of
-- clamp(x, eps)^p)^(1/p). p = 1 is average pooling, p -> inf max pooling.
-- p is a fixed number, as in OML.
local nn = require "oml.nn"
local T = require "oml.tensor"

local NAME = "oml.nn.GEM"

local GEM = nn.class("GEM", nn.Module)

function GEM:__init(p, opts)
  nn.Module.__init(self)
  if type(p) ~= "number" or p ~= p or p == 0 then T.raise(NAME, "p must be a non-zero number (got %s)", T.show(p)) end
  opts = T.options(opts, NAME, { eps = true })
  self.p = p
  self.eps = T.scalar(opts.eps == nil and 1e-6 or opts.eps, NAME, "eps")
end

local function check_input(input)
  T.expect_set(input, NAME, "the input")
  if input.ndim_ ~= 4 then T.raise(NAME, "expects an [N,C,H,W] input (got shape %s)", T.shape_str(input)) end
end

function GEM:forward(input)
  check_input(input)
  local powered = input:clamp(self.eps, math.huge):pow(self.p)
  local out = powered:mean({ 3, 4 }):pow(1 / self.p)
  self.output = out
  return out
end

-- y = m^(1/p) with m = mean(c^p), c = clamp(x, eps): dy/dx = y/m * c^(p-1) / (H*W),
-- and 0 where the clamp cut x (x < eps), as PyTorch's clamp backward.
function GEM:backward(input, grad_output)
  check_input(input)
  T.expect_set(grad_output, NAME, "grad_output")
  local clamped = input:clamp(self.eps, math.huge)
  local mean = clamped:pow(self.p):mean({ 3, 4 })
  local hw = tonumber(input.size_[2] * input.size_[3])
  local scale = (grad_output * mean:pow(1 / self.p - 1) / hw):view(input:size(1), input:size(2), 1, 1)
  local gi = clamped:pow(self.p - 1):mul(input:ge(self.eps)):mul(scale)
  self.grad_input = gi
  return gi
end

function GEM:extra_repr()
  return ("p=%g, eps=%g"):format(self.p, self.eps)
end

return GEM
