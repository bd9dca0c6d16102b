-- oml.models.resnet: torchvision's ResNet (torchvision/models/resnet.py, v1.5:
-- a bottleneck's stride sits on its 3x3 conv), with torchvision's module
-- names, so that its checkpoints load as they are ("layer1.0.conv1.weight",
-- "layer2.0.downsample.0.weight", "fc.bias"), and an explicit backward
-- through every block and its residual add.
--
--   resnet.resnet50({num_classes = 1000})   resnet18 / 34 / 50 / 101 / 152
--   resnet.ResNet{block = "basic", layers = {1, 1, 1, 1}, widths = {4, 8, 8, 8}, num_classes = 5}
--
-- The ReLUs are applied in place (torchvision's inplace=True) through the
-- activation kernel, and the residual is added into the last batch norm's
-- output: the activations kept for backward are those torchvision keeps.
local nn = require "oml.nn"
local T = require "oml.tensor"
local F = require "oml.nn.functional"

local C = T.C

local M = {}

local function relu_(x, who) return F.activation(who, C.OML_RELU, x, x) end

-- The gradient through a ReLU from its output y (y > 0 exactly where the
-- input was > 0); into `into` when given (a tensor of ours), else fresh.
local function relu_backward(y, g, into, who) return F.activation_backward(who, C.OML_RELU, y, g, into) end


local function conv(cin, cout, k, stride)
  return nn.Conv2d(cin, cout, k, { stride = stride, padding = math.floor((k - 1) / 2), bias = false })
end

-- ---- blocks ------------------------------------------------------------------

local BasicBlock = nn.class("BasicBlock", nn.Module)
BasicBlock.expansion = 1
M.BasicBlock = BasicBlock

-- downsample: nil, or a module mapping the input to the output's shape.
function BasicBlock:__init(inplanes, planes, stride, downsample)
  nn.Module.__init(self)
  self:add_module("conv1", conv(inplanes, planes, 3, stride or 1))
  self:add_module("bn1", nn.BatchNorm2d(planes))
  self:add_module("relu", nn.ReLU())
  self:add_module("conv2", conv(planes, planes, 3, 1))
  self:add_module("bn2", nn.BatchNorm2d(planes))
  if downsample then self:add_module("downsample", downsample) end
end

function BasicBlock:forward(x)
  local who = "oml.models.BasicBlock"
  self._c1 = self.conv1:forward(x)
  self._a1 = relu_(self.bn1:forward(self._c1), who)
  self._c2 = self.conv2:forward(self._a1)
  local out = self.bn2:forward(self._c2)
  out:add_(self.downsample and self.downsample:forward(x) or x)
  self.output = relu_(out, who)
  return self.output
end

function BasicBlock:backward(x, g)
  local who = "oml.models.BasicBlock"
  local gsum = relu_backward(self.output, g, nil, who)
  local ga = self.conv2:backward(self._a1, self.bn2:backward(self._c2, gsum))
  relu_backward(self._a1, ga, ga, who)
  local gx = self.conv1:backward(x, self.bn1:backward(self._c1, ga))
  gx:add_(self.downsample and self.downsample:backward(x, gsum) or gsum)
  self._c1, self._a1, self._c2 = nil, nil, nil
  for _, name in ipairs(self._children) do self[name]:clear_state() end
  self.grad_input = gx
  return gx
end

local Bottleneck = nn.class("Bottleneck", nn.Module)
Bottleneck.expansion = 4
M.Bottleneck = Bottleneck

function Bottleneck:__init(inplanes, planes, stride, downsample)
  nn.Module.__init(self)
  self:add_module("conv1", conv(inplanes, planes, 1, 1))
  self:add_module("bn1", nn.BatchNorm2d(planes))
  self:add_module("conv2", conv(planes, planes, 3, stride or 1))
  self:add_module("bn2", nn.BatchNorm2d(planes))
  self:add_module("conv3", conv(planes, planes * 4, 1, 1))
  self:add_module("bn3", nn.BatchNorm2d(planes * 4))
  self:add_module("relu", nn.ReLU())
  if downsample then self:add_module("downsample", downsample) end
end

function Bottleneck:forward(x)
  local who = "oml.models.Bottleneck"
  self._c1 = self.conv1:forward(x)
  self._a1 = relu_(self.bn1:forward(self._c1), who)
  self._c2 = self.conv2:forward(self._a1)
  self._a2 = relu_(self.bn2:forward(self._c2), who)
  self._c3 = self.conv3:forward(self._a2)
  local out = self.bn3:forward(self._c3)
  out:add_(self.downsample and self.downsample:forward(x) or x)
  self.output = relu_(out, who)
  return self.output
end

function Bottleneck:backward(x, g)
  local who = "oml.models.Bottleneck"
  local gsum = relu_backward(self.output, g, nil, who)
  local ga2 = self.conv3:backward(self._a2, self.bn3:backward(self._c3, gsum))
  relu_backward(self._a2, ga2, ga2, who)
  local ga1 = self.conv2:backward(self._a1, self.bn2:backward(self._c2, ga2))
  relu_backward(self._a1, ga1, ga1, who)
  local gx = self.conv1:backward(x, self.bn1:backward(self._c1, ga1))
  gx:add_(self.downsample and self.downsample:backward(x, gsum) or gsum)
  self._c1, self._a1, self._c2, self._a2, self._c3 = nil, nil, nil, nil, nil
  for _, name in ipairs(self._children) do self[name]:clear_state() end
  self.grad_input = gx
  return gx
end

local BLOCKS = { basic = BasicBlock, bottleneck = Bottleneck }

-- ---- the network -------------------------------------------------------------

local ResNet = nn.class("ResNet", nn.Module)
M.ResNet = ResNet

local OPTIONS = { block = true, layers = true, widths = true, num_classes = true, in_channels = true }

-- ResNet{block = "basic" | "bottleneck", layers = {n1, n2, n3, n4},
-- widths = {64, 128, 256, 512}, num_classes = 1000, in_channels = 3}; the
-- stem's width is widths[1], as torchvision's inplanes = 64.
function ResNet:__init(opts)
  local who = "oml.models.ResNet"
  nn.Module.__init(self)
  opts = T.options(opts, who, OPTIONS)
  local block = BLOCKS[opts.block or "basic"]
  if block == nil then T.raise(who, "block must be 'basic' or 'bottleneck' (got %s)", tostring(opts.block)) end
  local layers, widths = opts.layers or { 2, 2, 2, 2 }, opts.widths or { 64, 128, 256, 512 }
  for _, list in ipairs { { "layers", layers }, { "widths", widths } } do
    if type(list[2]) ~= "table" or #list[2] ~= 4 then T.raise(who, "%s must be a list of 4 numbers", list[1]) end
    for i = 1, 4 do
      local v = list[2][i]
      if type(v) ~= "number" or v < 1 or v ~= math.floor(v) then
        T.raise(who, "%s[%d] must be a positive integer (got %s)", list[1], i, T.show(v))
      end
    end
  end
  local in_channels = T.count(opts.in_channels or 3, who, "in_channels")
  local num_classes = T.count(opts.num_classes or 1000, who, "num_classes")
  self.block, self.in_channels = opts.block or "basic", in_channels

  local inplanes = widths[1]
  self:add_module("conv1", nn.Conv2d(in_channels, inplanes, 7, { stride = 2, padding = 3, bias = false }))
  self:add_module("bn1", nn.BatchNorm2d(inplanes))
  self:add_module("relu", nn.ReLU())
  self:add_module("maxpool", nn.MaxPool2d(3, { stride = 2, padding = 1 }))
  for i = 1, 4 do
    local planes, stride = widths[i], i == 1 and 1 or 2
    local out = planes * block.expansion
    local downsample
    if stride ~= 1 or inplanes ~= out then
      downsample = nn.Sequential(conv(inplanes, out, 1, stride), nn.BatchNorm2d(out))
    end
    local stage = nn.Sequential(block(inplanes, planes, stride, downsample))
    inplanes = out
    for _ = 2, layers[i] do stage:add(block(inplanes, planes)) end
    self:add_module("layer" .. i, stage)
  end
  self.feat_dim = inplanes
  self:add_module("avgpool", nn.AdaptiveAvgPool2d({ 1, 1 }))
  self:add_module("fc", nn.Linear(inplanes, num_classes))
  self:reset_parameters()
end

-- torchvision's initialisation: kaiming_normal_(mode="fan_out", relu) for the
-- convolutions, batch norms at weight 1 and bias 0; the Linear keeps its own.
function ResNet:reset_parameters()
  for _, entry in ipairs(self:named_modules()) do
    local m = entry.module
    if m.__name == "Conv2d" then
      local w = m.weight
      local fan_out = w:size(1) * w:size(3) * w:size(4)
      w:normal_(0, math.sqrt(2 / fan_out))
    elseif m.__name == "BatchNorm2d" then
      m.weight:fill_(1)
      m.bias:zero_()
    end
  end
  return self
end

-- In training the stages keep what backward needs; in evaluation each
-- drops its state as soon as it is done (a backward after an evaluation
-- forward runs the forward again, keeping it).
function ResNet:forward(x)
  local who = "oml.models.ResNet"
  T.expect_set(x, who, "the input")
  if x:dim() ~= 4 or x:size(2) ~= self.in_channels then
    T.raise(who, "expects images [N,%d,H,W] (got %s)", self.in_channels, T.shape_str(x))
  end
  return self:forward_stages(x, self.training)
end

function ResNet:forward_stages(x, keep)
  local c1 = self.conv1:forward(x)
  local h = relu_(self.bn1:forward(c1), "oml.models.ResNet")
  local saved = { x, h }
  local stages = { self.maxpool, self.layer1, self.layer2, self.layer3, self.layer4, self.avgpool }
  for i, stage in ipairs(stages) do
    h = stage:forward(h)
    if keep then
      saved[i + 2] = h
    else
      stage:clear_state()
      if i == 1 then -- the stem's output has been pooled
        c1, saved = nil, nil
        self.conv1:clear_state()
        self.bn1:clear_state()
      end
      T.collect() -- the stage's activations are garbage now: return them at once
    end
  end
  local pooled = h:reshape({ h:size(1), -1 })   -- torch.flatten(x, 1)
  self.output = self.fc:forward(pooled)
  if keep then
    self._saved, self._pooled, self._c1 = saved, pooled, c1
  else
    self._saved, self._pooled, self._c1 = nil, nil, nil
    for _, name in ipairs(self._children) do self[name]:clear_state() end
  end
  return self.output
end

function ResNet:backward(x, g)
  T.expect_set(g, "oml.models.ResNet", "the gradient")
  if self._saved == nil then
    local output = self.output
    self:forward_stages(x, true)
    self.output = output
  end
  local saved = self._saved
  local g_pooled = self.fc:backward(self._pooled, g)
  local pool_out = saved[8]
  local h = g_pooled:reshape(pool_out:size())
  local stages = { self.maxpool, self.layer1, self.layer2, self.layer3, self.layer4, self.avgpool }
  for i = #stages, 1, -1 do
    h = stages[i]:backward(saved[i + 1], h)
    stages[i]:clear_state()
    saved[i + 2] = nil
    T.collect() -- the stage's activations and gradients are garbage now: return them at once
  end
  local stem = saved[2]
  h = relu_backward(stem, h, h, "oml.models.ResNet")
  self.conv1.input_grad = self.input_grad
  local gx = self.conv1:backward(x, self.bn1:backward(self._c1, h))
  self._saved, self._pooled, self._c1 = nil, nil, nil
  for _, name in ipairs(self._children) do self[name]:clear_state() end
  self.grad_input = gx
  return gx
end

-- ---- torchvision's architectures ----------------------------------------------

local ARCHS = {
  resnet18 = { block = "basic", layers = { 2, 2, 2, 2 } },
  resnet34 = { block = "basic", layers = { 3, 4, 6, 3 } },
  resnet50 = { block = "bottleneck", layers = { 3, 4, 6, 3 } },
  resnet101 = { block = "bottleneck", layers = { 3, 4, 23, 3 } },
  resnet152 = { block = "bottleneck", layers = { 3, 8, 36, 3 } },
}
M.ARCHS = ARCHS

function M.names()
  local names = {}
  for name in pairs(ARCHS) do names[#names + 1] = name end
  table.sort(names, function(a, b) return tonumber(a:match("%d+")) < tonumber(b:match("%d+")) end)
  return names
end

-- M.build(arch [, {num_classes = 1000, in_channels = 3}])
function M.build(arch, opts)
  local cfg = ARCHS[arch]
  if cfg == nil then
    T.raise("oml.models.resnet", "unknown arch '%s'; known: %s", tostring(arch), table.concat(M.names(), ", "))
  end
  opts = T.options(opts, "oml.models.resnet", { num_classes = true, in_channels = true })
  return ResNet { block = cfg.block, layers = cfg.layers, num_classes = opts.num_classes,
                  in_channels = opts.in_channels }
end

for arch in pairs(ARCHS) do
  M[arch] = function(opts) return M.build(arch, opts) end
end

return M
