-- oml.ops.linalg: matrix products through OpenBLAS (float32 and float64).
-- Transposed views go to BLAS without copies.
local T = require "oml.tensor"

local C = T.C
local new, check, raise, expect = T.new, T.check, T.raise, T.expect_tensor
local methods = {}

local function inputs(name, a, b)
  expect(a, name, "the first input")
  expect(b, name, "the second input")
end

-- a:mm(b): the product of two matrices.
function methods.mm(a, b)
  inputs("oml.mm", a, b)
  local out = new()
  check(C.oml_mm(a, b, out), "oml.mm")
  return out
end

-- a:bmm(b): products of two batches of matrices, [B,m,k] x [B,k,n] -> [B,m,n].
function methods.bmm(a, b)
  inputs("oml.bmm", a, b)
  local out = new()
  check(C.oml_bmm(a, b, out), "oml.bmm")
  return out
end

-- a:matmul(b): NumPy's matmul: 1-d x 1-d is a dot product (0-d), a 1-d
-- operand is a row (left) or column (right) vector, and the dims before
-- the last two broadcast.
function methods.matmul(a, b)
  inputs("oml.matmul", a, b)
  local out = new()
  check(C.oml_matmul(a, b, out), "oml.matmul")
  return out
end

-- a:dot(b): the dot product of two 1-d tensors (0-d).
function methods.dot(a, b)
  inputs("oml.dot", a, b)
  if a.ndim_ ~= 1 or b.ndim_ ~= 1 then
    raise("oml.dot", "expects 1-d tensors (got shapes %s and %s)", T.shape_str(a), T.shape_str(b))
  end
  local out = new()
  check(C.oml_matmul(a, b, out), "oml.dot")
  return out
end

-- m:mv(v): a matrix times a vector.
function methods.mv(m, v)
  inputs("oml.mv", m, v)
  if m.ndim_ ~= 2 or v.ndim_ ~= 1 then
    raise("oml.mv", "expects a 2-d and a 1-d tensor (got shapes %s and %s)", T.shape_str(m), T.shape_str(v))
  end
  local out = new()
  check(C.oml_matmul(m, v, out), "oml.mv")
  return out
end

local function scalars(name, opts)
  if opts == nil then return 1, 1 end
  if type(opts) ~= "table" then raise(name, "options must be a table {beta=, alpha=} (got %s)", type(opts)) end
  local beta, alpha = opts.beta or 1, opts.alpha or 1
  if type(beta) ~= "number" or type(alpha) ~= "number" then
    raise(name, "beta and alpha must be numbers (got %s and %s)", T.kind(beta), T.kind(alpha))
  end
  return beta, alpha
end

-- c:addmm(a, b [, {beta=1, alpha=1}]): beta * c + alpha * a @ b, c broadcast
-- to the product's shape (PyTorch's c.addmm(a, b)). beta = 0 ignores c, NaN too.
function methods.addmm(c, a, b, opts)
  expect(c, "oml.addmm", "the added tensor")
  inputs("oml.addmm", a, b)
  local beta, alpha = scalars("oml.addmm", opts)
  local out = new()
  check(C.oml_addmm(c, a, b, out, beta, alpha), "oml.addmm")
  return out
end

-- c:addmm_(a, b [, opts]): the same, written into c (which has the product's shape).
function methods.addmm_(c, a, b, opts)
  expect(c, "oml.addmm_", "the added tensor")
  inputs("oml.addmm_", a, b)
  local beta, alpha = scalars("oml.addmm_", opts)
  check(C.oml_addmm(c, a, b, c, beta, alpha), "oml.addmm_")
  return c
end

return { methods = methods }
