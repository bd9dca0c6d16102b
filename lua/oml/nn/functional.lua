-- oml.nn.functional: activations, softmax and bicubic interpolation as plain
-- functions, each with its explicit backward (the layers call these; the ViT
-- interpolates its position embeddings with interpolate_bicubic, as DINO's
-- interpolate_pos_encoding does). Dims are 1-based; negative ones count
-- from the end.
local T = require "oml.tensor"

local C = T.C
local raise, check = T.raise, T.check
local F = {}

local function prefix(name) return "oml.nn.functional." .. name end

-- ---- activations -------------------------------------------------------------

-- The engine's activation `kind` (C.OML_RELU, ...) of x, into out when given
-- (x itself for an in-place ReLU); errors name `name`. The layers call these.
function F.activation(name, kind, x, out)
  T.expect_tensor(x, name)
  out = out or T.new()
  check(C.oml_activation_forward(x, out, kind), name)
  return out
end

-- Its backward: x is the forward's input (a ReLU's output will do); into
-- grad_input when given (grad_output itself, when it is the caller's alone).
function F.activation_backward(name, kind, x, grad_output, grad_input)
  T.expect_tensor(x, name)
  T.expect_tensor(grad_output, name, "grad_output")
  grad_input = grad_input or T.new()
  check(C.oml_activation_backward(x, grad_output, grad_input, kind), name)
  return grad_input
end
local activation, activation_backward = F.activation, F.activation_backward

-- The engine's GELU kind for {approximate = "none" (erf, the default) or
-- "tanh"}, as PyTorch's GELU (the string alone will do); errors name `name`.
function F.gelu_kind(opts, name)
  if type(name) ~= "string" then name = prefix "gelu_kind" end
  local approximate = opts
  if type(opts) ~= "string" then approximate = T.options(opts, name, { approximate = true }).approximate or "none" end
  if approximate == "none" then return C.OML_GELU end
  if approximate == "tanh" then return C.OML_GELU_TANH end
  raise(name, "approximate must be \"none\" or \"tanh\" (got %s)", T.show(approximate))
end

function F.relu(x) return activation(prefix "relu", C.OML_RELU, x) end
function F.relu_backward(x, grad_output)
  return activation_backward(prefix "relu_backward", C.OML_RELU, x, grad_output)
end

-- gelu(x [, {approximate = "none"} or "tanh"]): x Phi(x), or its tanh approximation
function F.gelu(x, opts)
  local name = prefix "gelu"
  return activation(name, F.gelu_kind(opts, name), x)
end
-- gelu_backward(x, grad_output [, opts]): x is the forward's input
function F.gelu_backward(x, grad_output, opts)
  local name = prefix "gelu_backward"
  return activation_backward(name, F.gelu_kind(opts, name), x, grad_output)
end

-- ---- softmax -------------------------------------------------------------------

local function softmax(name, x, dim, log)
  T.expect_set(x, name)
  if dim == nil then raise(name, "dim must be given") end
  local out = T.new()
  check(C.oml_softmax_forward(x, out, T.cdim(x, dim, name), log), name)
  return out
end

local function softmax_backward(name, output, grad_output, dim, log)
  T.expect_set(output, name, "the output")
  T.expect_tensor(grad_output, name, "grad_output")
  if dim == nil then raise(name, "dim must be given") end
  local grad_input = T.new()
  check(C.oml_softmax_backward(output, grad_output, grad_input, T.cdim(output, dim, name), log), name)
  return grad_input
end

-- softmax(x, dim): exp(x) / sum(exp(x)) along dim, the maximum subtracted first
function F.softmax(x, dim) return softmax(prefix "softmax", x, dim, 0) end
function F.log_softmax(x, dim) return softmax(prefix "log_softmax", x, dim, 1) end
-- The backward passes take the forward's OUTPUT (as PyTorch's do).
function F.softmax_backward(output, grad_output, dim)
  return softmax_backward(prefix "softmax_backward", output, grad_output, dim, 0)
end
function F.log_softmax_backward(output, grad_output, dim)
  return softmax_backward(prefix "log_softmax_backward", output, grad_output, dim, 1)
end

-- ---- bicubic interpolation -------------------------------------------------------

local INTERPOLATE_OPTIONS = { size = true, scale_factor = true, align_corners = true }

-- A number or a list of two, as two values.
local function pair(x, name, what)
  if type(x) == "number" then return x, x end
  if type(x) ~= "table" or #x ~= 2 or type(x[1]) ~= "number" or type(x[2]) ~= "number" then
    raise(name, "%s must be a number or a list of two numbers", what)
  end
  return x[1], x[2]
end

-- The output size, the scale factors for the engine (0 without) and
-- align_corners, for an input of height h and width w. As PyTorch: a scale
-- factor gives the size floor(in * scale_factor) and is also what maps
-- output coordinates back (1 / scale_factor), unless align_corners.
local function geometry(name, h, w, opts, align_corners)
  if type(opts) ~= "table" then
    raise(name, "options must be a table {size = {h, w}} or {scale_factor = {sh, sw}} (got %s)", T.kind(opts))
  end
  opts = T.options(opts, name, INTERPOLATE_OPTIONS)
  if align_corners == nil then align_corners = opts.align_corners end
  local ac = T.flag(align_corners, false, name, "align_corners")
  if (opts.size == nil) == (opts.scale_factor == nil) then
    raise(name, "give exactly one of size and scale_factor")
  end
  if opts.size ~= nil then
    local oh, ow = pair(opts.size, name, "size")
    T.count(oh, name, "the output height")
    T.count(ow, name, "the output width")
    return oh, ow, 0, 0, ac
  end
  local sh, sw = pair(opts.scale_factor, name, "scale_factor")
  for _, s in ipairs { sh, sw } do
    if not (s > 0 and s < math.huge) then raise(name, "scale factors must be finite and > 0 (got %s)", T.show(s)) end
  end
  return math.floor(h * sh), math.floor(w * sw), sh, sw, ac
end

local function expect_4d(name, t, what)
  T.expect_set(t, name, what)
  if t.ndim_ ~= 4 then raise(name, "%s must be 4-d [N,C,H,W] (got shape %s)", what, T.shape_str(t)) end
end

-- interpolate_bicubic(x, {size = {h, w}} or {scale_factor = {sh, sw}} [,
-- align_corners = false]): PyTorch's F.interpolate(x, mode="bicubic") of an
-- [N,C,H,W] tensor. align_corners may also be given in the options table.
function F.interpolate_bicubic(x, opts, align_corners)
  local name = prefix "interpolate_bicubic"
  expect_4d(name, x, "the input")
  local oh, ow, sh, sw, ac = geometry(name, tonumber(x.size_[2]), tonumber(x.size_[3]), opts, align_corners)
  local out = T.new()
  check(C.oml_interpolate_bicubic_forward(x, out, oh, ow, ac, sh, sw), name)
  return out
end

-- interpolate_bicubic_backward(grad_output, {h, w}, opts [, align_corners]):
-- the gradient for the forward's input of height h and width w, given the
-- forward's options.
function F.interpolate_bicubic_backward(grad_output, input_size, opts, align_corners)
  local name = prefix "interpolate_bicubic_backward"
  expect_4d(name, grad_output, "grad_output")
  local h, w = pair(input_size, name, "the input size")
  T.count(h, name, "the input height")
  T.count(w, name, "the input width")
  local oh, ow, sh, sw, ac = geometry(name, h, w, opts, align_corners)
  if oh ~= tonumber(grad_output.size_[2]) or ow ~= tonumber(grad_output.size_[3]) then
    raise(name, "grad_output has shape %s but the forward's output is %d x %d", T.shape_str(grad_output), oh, ow)
  end
  local grad_input = T.new()
  check(C.oml_interpolate_bicubic_backward(grad_output, grad_input, h, w, ac, sh, sw), name)
  return grad_input
end

return F
