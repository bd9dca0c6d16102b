-- oml.ops.elementwise: unary and binary math with NumPy broadcasting, each
-- with an in-place twin ending in _ (t:add_(x) writes into t).
local T = require "oml.tensor"

local C = T.C
local new, check, raise, is_tensor, expect = T.new, T.check, T.raise, T.is_tensor, T.expect_tensor
local functions, methods = {}, {}

local BINARY = {
  add = C.OML_ADD, sub = C.OML_SUB, mul = C.OML_MUL, div = C.OML_DIV, pow = C.OML_POW,
  fmod = C.OML_FMOD, minimum = C.OML_MINIMUM, maximum = C.OML_MAXIMUM,
  eq = C.OML_EQ, ne = C.OML_NE, lt = C.OML_LT, le = C.OML_LE, gt = C.OML_GT, ge = C.OML_GE,
  logical_and = C.OML_LOGICAL_AND, logical_or = C.OML_LOGICAL_OR,
}

local UNARY = {
  neg = C.OML_NEG, abs = C.OML_ABS, sign = C.OML_SIGN, exp = C.OML_EXP, log = C.OML_LOG,
  sqrt = C.OML_SQRT, rsqrt = C.OML_RSQRT, square = C.OML_SQUARE, reciprocal = C.OML_RECIPROCAL,
  tanh = C.OML_TANH, sigmoid = C.OML_SIGMOID, erf = C.OML_ERF, log1p = C.OML_LOG1P,
  expm1 = C.OML_EXPM1, sin = C.OML_SIN, cos = C.OML_COS, floor = C.OML_FLOOR, ceil = C.OML_CEIL,
  round = C.OML_ROUND, trunc = C.OML_TRUNC, logical_not = C.OML_LOGICAL_NOT,
}

local function scalar(x)
  if type(x) == "boolean" then return x and 1 or 0 end
  return x
end

-- a op b into out (a fresh tensor when nil); either operand may be a number.
local function binary(name, op, a, b, out)
  a, b = scalar(a), scalar(b)
  out = out or new()
  if is_tensor(a) and is_tensor(b) then
    check(C.oml_binary(a, b, out, op), name)
  elseif is_tensor(a) and type(b) == "number" then
    check(C.oml_binary_scalar(a, out, op, b, 0), name)
  elseif type(a) == "number" and is_tensor(b) then
    check(C.oml_binary_scalar(b, out, op, a, 1), name)
  else
    raise(name, "expected tensors or numbers (got %s and %s)", T.kind(a), T.kind(b))
  end
  return out
end

for op_name, op in pairs(BINARY) do
  local name = "oml." .. op_name
  methods[op_name] = function(a, b) return binary(name, op, a, b) end
  methods[op_name .. "_"] = function(a, b) return binary(name .. "_", op, a, b, expect(a, name .. "_")) end
end

-- alpha * b, for a + alpha * b as PyTorch's add(other, alpha=...)
local function scaled(name, b, alpha)
  if alpha == nil then return b end
  alpha = T.scalar(alpha, name, "alpha")
  b = scalar(b)
  if type(b) == "number" then return b * alpha end
  return binary(name, C.OML_MUL, b, alpha)
end

for _, op_name in ipairs { "add", "sub" } do
  local plain, inplace, name = methods[op_name], methods[op_name .. "_"], "oml." .. op_name
  methods[op_name] = function(a, b, alpha) return plain(a, scaled(name, b, alpha)) end
  methods[op_name .. "_"] = function(a, b, alpha) return inplace(a, scaled(name .. "_", b, alpha)) end
end

-- x - t, x / t, x ^ t for a number x (the metatype's __sub, __div, __pow)
function methods.rsub(t, x) return binary("oml.sub", C.OML_SUB, x, t) end
function methods.rdiv(t, x) return binary("oml.div", C.OML_DIV, x, t) end
function methods.rpow(t, x) return binary("oml.pow", C.OML_POW, x, t) end

for op_name, op in pairs(UNARY) do
  local name = "oml." .. op_name
  methods[op_name] = function(t)
    expect(t, name)
    local out = new()
    check(C.oml_unary(t, out, op), name)
    return out
  end
  methods[op_name .. "_"] = function(t)
    expect(t, name .. "_")
    check(C.oml_unary(t, t, op), name .. "_")
    return t
  end
end

-- t:clamp(min, max): either bound may be nil.
local function clamp(name, t, low, high, out)
  expect(t, name)
  if (type(low) ~= "nil" and type(low) ~= "number") or (type(high) ~= "nil" and type(high) ~= "number") then
    raise(name, "bounds must be numbers or nil (got %s and %s)", T.kind(low), T.kind(high))
  end
  check(C.oml_clamp(t, out, low or -math.huge, high or math.huge), name)
  return out
end

function methods.clamp(t, low, high) return clamp("oml.clamp", t, low, high, new()) end
function methods.clamp_(t, low, high) return clamp("oml.clamp_", t, low, high, t) end

-- oml.where(cond, a, b): a where cond is true, else b; a or b may be numbers.
function functions.where(cond, a, b)
  local name = "oml.where"
  T.expect_set(cond, name, "the condition")
  local like = is_tensor(a) and a or b
  local function operand(x)
    x = scalar(x)
    if is_tensor(x) then return x end
    if type(x) ~= "number" then raise(name, "a and b must be tensors or numbers (got %s)", T.kind(x)) end
    local integral = x == math.floor(x) and math.abs(x) < 2 ^ 63
    local dtype = is_tensor(like) and like.dtype_ or (integral and T.INT64 or T.FLOAT32)
    local s = T.empty({}, dtype, cond.device_, name)
    check(C.oml_fill(s, x), name)
    return s
  end
  local out = new()
  check(C.oml_where(cond, operand(a), operand(b), out), name)
  return out
end

return { functions = functions, methods = methods }
