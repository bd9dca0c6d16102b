-- spec/jacobian.lua: finite-difference checks of modules' backward passes
-- (torch/nn's Jacobian, in float64). The scalar checked is
-- L = sum(forward(input) * R) for a fixed random R, so backward(input, R)
-- must return dL/dinput and accumulate dL/dparam. Each element is perturbed
-- by +-eps (central differences; the error is O(eps^2) plus rounding, far
-- below the tolerance for smooth functions).
local ffi = require "ffi"
local oml = require "oml"

local J = {}

local function pointer(t)
  assert(t.dtype == "float64", "jacobian: tensors must be float64 (call module:double())")
  assert(t:is_contiguous(), "jacobian: tensors must be contiguous")
  return ffi.cast("double*", t.data_)
end

local function compare(what, analytic, numeric, tol)
  local a, n = pointer(analytic:contiguous()), pointer(numeric)
  for i = 0, tonumber(numeric.numel_) - 1 do
    local diff = math.abs(a[i] - n[i])
    if diff > tol * (1 + math.abs(n[i])) then
      error(("%s: element %d: backward gives %.10g, finite differences %.10g"):format(what, i + 1, a[i], n[i]), 3)
    end
  end
end

-- dL/dx of the function f (returning a tensor) at the contiguous tensor x.
local function numeric_grad(f, x, r, eps)
  local p = pointer(x)
  local g = oml.zeros(x:size(), { dtype = "float64" })
  local gp = pointer(g)
  for i = 0, tonumber(x.numel_) - 1 do
    local saved = p[i]
    p[i] = saved + eps
    local plus = (f() * r):sum():item()
    p[i] = saved - eps
    local minus = (f() * r):sum():item()
    p[i] = saved
    gp[i] = (plus - minus) / (2 * eps)
  end
  return g
end

-- J.check(module, input [, {eps = 1e-6, tol = 1e-6, seed = 1}]): compares
-- backward's grad_input and every trainable parameter's gradient with finite
-- differences, and checks that a second backward accumulates (doubles) the
-- parameter gradients. The generator is reseeded before every forward, so
-- modules that draw random numbers (dropout) see the same draws each time.
function J.check(module, input, opts)
  opts = opts or {}
  local eps, tol, seed = opts.eps or 1e-6, opts.tol or 1e-6, opts.seed or 1
  input = input:contiguous():clone()
  local function run()
    oml.manual_seed(seed)
    return module:forward(input)
  end
  local out = run()
  oml.manual_seed(seed + 1)
  local r = oml.randn(out:size(), { dtype = "float64" })
  module:zeroGradParameters()
  run()
  local grad_input = module:backward(input, r)
  assert(oml.is_tensor(grad_input), "jacobian: backward must return the gradient of the input")
  compare("grad_input", grad_input, numeric_grad(run, input, r, eps), tol)

  local entries = {}
  for _, e in ipairs(module:named_parameters()) do
    local g = e.module:grad(e.key)
    if g ~= nil then entries[#entries + 1] = { name = e.name, param = e.param, grad = g:clone() } end
  end
  for _, e in ipairs(entries) do
    compare("grad of " .. e.name, e.grad, numeric_grad(run, e.param, r, eps), tol)
  end

  run()
  module:backward(input, r)
  for _, e in ipairs(entries) do
    local g = nil
    for _, f in ipairs(module:named_parameters()) do
      if f.name == e.name then g = f.module:grad(f.key) end
    end
    compare("accumulated grad of " .. e.name, g, e.grad * 2, tol)
  end
  return true
end

-- J.check_criterion(criterion, input, target [, opts]): the same for a loss:
-- backward(input, target) against finite differences of forward(input, target).
function J.check_criterion(criterion, input, target, opts)
  opts = opts or {}
  local eps, tol, seed = opts.eps or 1e-6, opts.tol or 1e-6, opts.seed or 1
  input = input:contiguous():clone()
  local one = oml.ones({}, { dtype = "float64" })
  local function run()
    oml.manual_seed(seed)
    return oml.tensor(criterion:forward(input, target), { dtype = "float64" })
  end
  criterion:zeroGradParameters()
  run()
  local grad_input = criterion:backward(input, target)
  compare("grad_input", grad_input, numeric_grad(run, input, one, eps), tol)
  for _, e in ipairs(criterion:named_parameters()) do
    local g = e.module:grad(e.key)
    if g ~= nil then compare("grad of " .. e.name, g:clone(), numeric_grad(run, e.param, one, eps), tol) end
  end
  return true
end

return J
