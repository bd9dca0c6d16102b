-- oml.losses.ArcFaceLoss and ArcFaceLossWithMLP: OML's ArcFace
-- (oml/losses/arcface.py, https://arxiv.org/abs/1801.07698): cross-entropy
-- over s * cos(angle to each class), the label's angle widened by the margin
-- m, with optional label smoothing, restricted to the label's category when
-- label2category is given. The loss owns its class weights [num_classes,
-- in_features] (Xavier-uniform, as OML), so it is trained like a layer:
-- backward returns d loss / d features and accumulates the weight's gradient.
-- Labels are class ids 0 .. num_classes - 1, as in OML's dataframes.
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"
local common = require "oml.losses.common"

local raise = T.raise
local NORM_EPS = 1e-12   -- F.normalize's eps

-- x / max(||x||, eps) row by row, and the norms.
local function normalize(x)
  local norm = x:norm(2, 2, true)
  return x / norm:clamp(NORM_EPS), norm
end

-- The gradient through normalize, given its output y and the norms.
local function normalize_backward(y, norm, grad_y)
  local along = (grad_y * y):sum(2, true) * norm:gt(NORM_EPS):to(y.dtype)
  return (grad_y - y * along) / norm:clamp(NORM_EPS)
end

local function positive_integer(value, name, what)
  if not common.is_integer(value) or value < 1 then
    raise(name, "%s must be a positive integer (got %s)", what, T.show(value))
  end
  return value
end

-- label2category (a table: label -> category, any values) as an int64 tensor
-- of category ids for labels 0 .. num_classes - 1.
local function category_ids(label2category, num_classes, name)
  if type(label2category) ~= "table" then
    raise(name, "label2category must be a table label -> category (got %s)", T.kind(label2category))
  end
  local ids, next_id, out = {}, 0, {}
  for label = 0, num_classes - 1 do
    local category = label2category[label]
    if category == nil then raise(name, "label2category has no category for label %d", label) end
    if ids[category] == nil then
      ids[category] = next_id
      next_id = next_id + 1
    end
    out[label + 1] = ids[category]
  end
  return oml.tensor(out, "int64")
end

-- ---- ArcFaceLoss ---------------------------------------------------------------

local ArcFaceLoss = nn.class("ArcFaceLoss", nn.Criterion)

local ARCFACE_ARGS = {
  in_features = true, num_classes = true, m = true, s = true, smoothing_epsilon = true,
  label2category = true, reduction = true,
}

function ArcFaceLoss:__init(args)
  nn.Criterion.__init(self)
  local name = "oml.losses.ArcFaceLoss"
  args = common.arguments(args, name, ARCFACE_ARGS)
  self.in_features = positive_integer(args.in_features, name, "in_features")
  self.num_classes = positive_integer(args.num_classes, name, "num_classes")
  local m, s, eps = args.m or 0.5, args.s or 64, args.smoothing_epsilon or 0
  if type(m) ~= "number" or m ~= m then raise(name, "m must be a number (got %s)", T.show(m)) end
  if type(s) ~= "number" or s ~= s or s <= 0 then raise(name, "s must be a positive number (got %s)", T.show(s)) end
  if type(eps) ~= "number" or eps ~= eps or eps < 0 or eps >= 1 then
    raise(name, "smoothing_epsilon must be in [0, 1) (got %s)", T.show(eps))
  end
  self.m, self.rescale, self.smoothing_epsilon = m, s, eps
  self.cos_m, self.sin_m = math.cos(m), math.sin(m)
  self.th, self.mm = -math.cos(m), math.sin(m) * m
  self.reduction = common.reduction(args.reduction, name)
  if args.label2category ~= nil then
    self:register_buffer("label2category", category_ids(args.label2category, self.num_classes, name), false)
  end
  -- nn.init.xavier_uniform_: U(-b, b), b = sqrt(6 / (fan_in + fan_out))
  local bound = math.sqrt(6 / (self.in_features + self.num_classes))
  self:register_parameter("weight", oml.empty(self.num_classes, self.in_features):uniform_(-bound, bound))
  self.last_logs = {}
end

function ArcFaceLoss:extra_repr()
  return ("in_features=%d, num_classes=%d, m=%g, s=%g"):format(self.in_features, self.num_classes, self.m,
                                                               self.rescale)
end

-- labels -> an int64 [B, 1] tensor of 1-based class positions, on the device.
local function class_index(self, labels, b, device, name)
  labels = common.labels(labels, b, name)
  local out = {}
  for i, label in ipairs(labels) do
    if label < 0 or label >= self.num_classes then
      raise(name, "labels[%d] is %d; labels must be in 0 .. num_classes - 1 = %d", i, label, self.num_classes - 1)
    end
    out[i] = { label + 1 }
  end
  return oml.tensor(out, { dtype = "int64", device = device })
end

-- The target distribution over classes [B, C]: one-hot, or smoothed
-- (oml/functional/label_smoothing.py): (1 - eps) on the label plus eps spread
-- evenly over every class, or over the classes of the label's category.
local function targets(self, index, b, dtype)
  local c, eps = self.num_classes, self.smoothing_epsilon
  local one_hot = oml.zeros({ b, c }, { dtype = dtype, device = index.device }):scatter_(2, index, 1)
  if eps == 0 then return one_hot end
  if self.label2category == nil then return one_hot * (1 - eps) + eps / c end
  local categories = self.label2category
  local own = categories:index_select(1, index:view(b)):view(b, 1)
  local same = own:eq(categories:view(1, c))
  local share = same:sum(2, true):to(dtype):rdiv(eps)
  return oml.where(same, share, 0) + one_hot * (1 - eps)
end

function ArcFaceLoss:forward(features, labels)
  local name = "oml.losses.ArcFaceLoss"
  common.features(features, name)
  local b = features:size(1)
  if features:size(2) ~= self.in_features then
    raise(name, "features have %d columns but in_features is %d", features:size(2), self.in_features)
  end
  if features.dtype_ ~= self.weight.dtype_ then
    raise(name, "features are %s but the weight is %s (convert one: loss:double() or features:float())",
          features.dtype, self.weight.dtype)
  end
  if features.device ~= self.weight.device then
    raise(name, "features are on %s but the weight is on %s (move one: loss:cuda() or features:cpu())",
          features.device, self.weight.device)
  end
  local index = class_index(self, labels, b, features.device, name)
  local xn, xnorm = normalize(features)
  local wn, wnorm = normalize(self.weight)
  local cos = xn:mm(wn:t())
  self.last_logs.accuracy = cos:argmax(2, true):eq(index):to("float64"):mean():item()
  local cos_t = cos:gather(2, index)
  local sin_t = (1 - cos_t * cos_t):clamp(0):sqrt()
  local above = cos_t:gt(self.th)
  local with_margin = oml.where(above, cos_t * self.cos_m - sin_t * self.sin_m, cos_t - self.mm)
  local logits = cos:scatter(2, index, with_margin) * self.rescale
  local log_prob = logits - logits:logsumexp(2, true)
  local target = targets(self, index, b, features.dtype)
  local loss = -(target * log_prob):sum(2)
  self.saved_ = {
    xn = xn, xnorm = xnorm, wn = wn, wnorm = wnorm, index = index, cos_t = cos_t, sin_t = sin_t,
    above = above, prob = log_prob:exp(), target = target,
  }
  self.output = common.reduce(loss, self.reduction)
  return self.output
end

function ArcFaceLoss:backward(features)
  local name = "oml.losses.ArcFaceLoss"
  local s = common.saved(self, name)
  common.features(features, name)
  local scale = self.rescale
  if self.reduction == "mean" then scale = scale / features:size(1) end
  local grad_cos = (s.prob - s.target) * scale
  -- the label's entry went through the margin: d/dcos (cos m - sin sin_m)
  -- = cos_m + sin_m cos / sin (0 where sin is 0), or 1 below th
  local slope = oml.where(s.sin_t:gt(0), s.cos_t / s.sin_t, 0) * self.sin_m + self.cos_m
  slope = oml.where(s.above, slope, 1)
  grad_cos:scatter_(2, s.index, grad_cos:gather(2, s.index) * slope)
  local grad_weight = self:grad("weight")
  if grad_weight ~= nil then
    grad_weight:add_(normalize_backward(s.wn, s.wnorm, grad_cos:t():mm(s.xn)))
  end
  self.grad_input = normalize_backward(s.xn, s.xnorm, grad_cos:mm(s.wn))
  return self.grad_input
end

-- ---- ArcFaceLossWithMLP --------------------------------------------------------

-- torchvision.ops.MLP(in, hidden): Linear, ReLU, Dropout(0) per hidden
-- size but the last, which has Linear, Dropout(0); the Sequential's
-- positions name the parameters as in PyTorch ("mlp.0.weight", "mlp.3.bias").
local function mlp(in_features, sizes)
  local layers = {}
  for i, size in ipairs(sizes) do
    layers[#layers + 1] = nn.Linear(in_features, size)
    if i < #sizes then layers[#layers + 1] = nn.ReLU() end
    layers[#layers + 1] = nn.Dropout(0)
    in_features = size
  end
  return nn.Sequential(unpack(layers))
end

-- ArcFaceLoss after an MLP projector (trained with it): mlp_features lists
-- the MLP's layer sizes; the other arguments are ArcFaceLoss's.
local ArcFaceLossWithMLP = nn.class("ArcFaceLossWithMLP", nn.Criterion)

function ArcFaceLossWithMLP:__init(args)
  nn.Criterion.__init(self)
  local name = "oml.losses.ArcFaceLossWithMLP"
  local allowed = { mlp_features = true }
  for k in pairs(ARCFACE_ARGS) do allowed[k] = true end
  args = common.arguments(args, name, allowed)
  local sizes = args.mlp_features
  if type(sizes) ~= "table" or #sizes == 0 then
    raise(name, "mlp_features must be a non-empty list of layer sizes (got %s)", T.show(sizes))
  end
  for i, size in ipairs(sizes) do positive_integer(size, name, ("mlp_features[%d]"):format(i)) end
  local in_features = positive_integer(args.in_features, name, "in_features")
  self.in_features = in_features
  self:add_module("mlp", mlp(in_features, sizes))
  local arcface_args = {}
  for k, v in pairs(args) do arcface_args[k] = v end
  arcface_args.mlp_features, arcface_args.in_features = nil, sizes[#sizes]
  self:add_module("arcface", ArcFaceLoss(arcface_args))
  self.last_logs = self.arcface.last_logs
end

function ArcFaceLossWithMLP:forward(features, labels)
  common.features(features, "oml.losses.ArcFaceLossWithMLP")
  if features:size(2) ~= self.in_features then
    raise("oml.losses.ArcFaceLossWithMLP", "features have %d columns but in_features is %d", features:size(2),
          self.in_features)
  end
  self.output = self.arcface:forward(self.mlp:forward(features), labels)
  return self.output
end

function ArcFaceLossWithMLP:backward(features, labels)
  local grad = self.arcface:backward(self.mlp.output, labels)
  self.grad_input = self.mlp:backward(features, grad)
  return self.grad_input
end

return { ArcFaceLoss = ArcFaceLoss, ArcFaceLossWithMLP = ArcFaceLossWithMLP }
