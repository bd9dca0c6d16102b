-- oml.nn.Normalize([{p = 2, dim = 2, eps = 1e-12}]): x / max(||x||_p, eps)
-- along dim (1-based), PyTorch's F.normalize: the L2 normalisation of
-- embeddings. p is a finite number >= 1.
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C
local NAME = "oml.nn.Normalize"
local Normalize = nn.class("Normalize", nn.Module)

function Normalize:__init(opts)
  nn.Module.__init(self)
  opts = T.options(opts, NAME, { p = true, dim = true, eps = true })
  local p, eps = opts.p or 2, opts.eps or 1e-12
  if type(p) ~= "number" or not (p >= 1 and p < math.huge) then
    T.raise(NAME, "p must be a finite number >= 1 (got %s)", T.show(p))
  end
  if type(eps) ~= "number" or eps ~= eps or eps < 0 then
    T.raise(NAME, "eps must be a number >= 0 (got %s)", T.show(eps))
  end
  self.p, self.eps = p, eps
  self.dim = T.integer(opts.dim or 2, NAME, "dim")
end

function Normalize:forward(input)
  T.expect_set(input, NAME)
  local out = T.new()
  T.check(C.oml_normalize(input, out, self.p, T.cdim(input, self.dim, NAME), self.eps), NAME)
  self.output = out
  return out
end

-- With n = ||x||_p and d = max(n, eps): dy = g / d, less, where n > eps (the
-- clamp passes no gradient below), the norm's part
-- sign(x) |x|^(p-1) / n^(p-1) * sum(g x) / n^2.
function Normalize:backward(input, grad_output)
  T.expect_set(input, NAME)
  T.expect_set(grad_output, NAME, "grad_output")
  if T.shape_str(input) ~= T.shape_str(grad_output) then
    T.raise(NAME, "grad_output has shape %s but the input has shape %s", T.shape_str(grad_output),
            T.shape_str(input))
  end
  local dim, p = self.dim, self.p
  T.cdim(input, dim, NAME)
  local norm = input:norm(p, dim, true)
  local denom = norm:clamp(self.eps, math.huge)
  local grad_input = grad_output / denom
  local dir = p == 2 and input / denom or input:sign() * (input:abs() / denom):pow(p - 1)
  local coef = (grad_output * input):sum(dim, true) / (denom * denom) * norm:gt(self.eps)
  grad_input:sub_(dir * coef)
  self.grad_input = grad_input
  return grad_input
end

function Normalize:extra_repr() return ("p=%g, dim=%d, eps=%g"):format(self.p, self.dim, self.eps) end

return Normalize
