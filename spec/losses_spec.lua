-- Specs for oml.losses: the properties OML's own tests check
-- (tests/test_oml/test_losses), textbook formulas on random data, PyTorch
-- numbers for ArcFace and SurrogatePrecision (spec/fixtures/losses), and
-- every backward against finite differences in float64.
local H = require "helper"
local J = require "jacobian"
local oml = require "oml"
local nn = oml.nn
local losses = oml.losses
local miners = oml.miners
local expected = dofile("spec/fixtures/losses/expected.lua")

math.randomseed(2024)

local function random_features(n, dim, dtype)
  oml.manual_seed(math.random(1, 10000))
  return oml.randn({ n, dim }, { dtype = dtype or "float64" })
end

-- labels 0 .. n_labels - 1, each `each` times, shuffled
local function balanced_labels(n_labels, each)
  local labels = {}
  for label = 0, n_labels - 1 do
    for _ = 1, each do labels[#labels + 1] = label end
  end
  return H.shuffle(labels)
end

-- OML's IdealOneHotModel: the one-hot vector of each label
local function one_hot(labels, dim)
  local x = oml.zeros(#labels, dim)
  for i, label in ipairs(labels) do x[{ i, label + 1 }] = 1 end
  return x
end

local distance = H.euclidean

-- The textbook triplet loss of the triplets (a[t], p[t], n[t]) over rows.
local function textbook(rows, a, p, n, margin, reduction)
  local total = 0
  for t = 1, #a do
    local z = distance(rows, a[t], p[t]) - distance(rows, a[t], n[t])
    total = total + (margin and math.max(0, margin + z) or math.log(1 + math.exp(z)))
  end
  return reduction == "sum" and total or total / #a
end

-- J.check_criterion for TripletLoss, which takes three tensors: the input
-- is anchor, positive and negative stacked [3, N, D].
local Stacked = nn.class("Stacked", nn.Criterion)
function Stacked:__init(inner) nn.Criterion.__init(self); self.inner = inner end
function Stacked:forward(x) return self.inner:forward(x[1], x[2], x[3]) end
function Stacked:backward(x) return oml.stack({ self.inner:backward(x[1], x[2], x[3]) }, 1) end

describe("oml.losses.TripletLoss", function()
  it("equals the textbook formula on random data, margin and soft, mean and sum", function()
    local x = random_features(3 * 7, 5)
    local rows = x:totable()
    local a, p, n = {}, {}, {}
    for t = 1, 7 do a[t], p[t], n[t] = t, 7 + t, 14 + t end
    for _, margin in ipairs { 0.2, 1.5, false } do
      for _, reduction in ipairs { "mean", "sum" } do
        local loss = losses.TripletLoss { margin = margin or nil, reduction = reduction }
        local value = loss:forward(x:narrow(1, 1, 7), x:narrow(1, 8, 7), x:narrow(1, 15, 7))
        H.close(value, textbook(rows, a, p, n, margin or nil, reduction), 1e-12)
      end
    end
  end)

  it("matches OML's tests: TripletMarginLoss on constant vectors, log 2 when all three coincide", function()
    -- torch 1.13: TripletMarginLoss(margin=1.5)(ones*1, ones*2, ones*3) over [32, 1024] is 0; margin 40 gives 8
    local one = oml.ones(32, 1024)
    for margin, want in pairs { [1.5] = 0, [40] = 8 } do
      H.close(losses.TripletLoss { margin = margin }:forward(one, one * 2, one * 3), want, 1e-6)
    end
    local v = random_features(32, 16, "float32")
    H.close(losses.TripletLoss {}:forward(v, v, v), math.log(2), 1e-6)
  end)

  it("keeps OML's logs", function()
    local loss = losses.TripletLoss { margin = 0.5, need_logs = true }
    local a = oml.tensor { { 0, 0 }, { 0, 0 } }
    loss:forward(a, oml.tensor { { 1, 0 }, { 3, 0 } }, oml.tensor { { 0, 2 }, { 0, 1 } })
    -- d_ap = 1, 3; d_an = 2, 1: losses 0 and 2.5
    H.close(loss.last_logs.active_tri, 0.5)
    H.close(loss.last_logs.pos_dist, 2)
    H.close(loss.last_logs.neg_dist, 1.5)
  end)

  it("has the gradient of finite differences, also on transposed inputs", function()
    for _, margin in ipairs { 0.7, false } do
      for _, reduction in ipairs { "mean", "sum" } do
        local x = random_features(3 * 6, 4):view(3, 6, 4)
        J.check_criterion(Stacked(losses.TripletLoss { margin = margin or nil, reduction = reduction }), x)
      end
    end
    local loss = losses.TripletLoss { margin = 5 }
    local t = random_features(4, 5):t()   -- [5, 4], not contiguous
    local value = loss:forward(t, t * 0.5, -t)
    local grads = { loss:backward(t, t * 0.5, -t) }
    H.close(value, loss:forward(t:contiguous(), (t * 0.5):contiguous(), (-t):contiguous()), 1e-12)
    H.close(grads, { loss:backward(t:contiguous(), (t * 0.5):contiguous(), (-t):contiguous()) }, 1e-12)
  end)

  it("names itself in errors", function()
    local loss = losses.TripletLoss { margin = 0.1 }
    local x = oml.zeros(2, 3)
    H.raises(function() local _ = loss:forward(x, oml.zeros(2, 4), x) end,
             "oml.losses.TripletLoss: anchor, positive and negative must have one shape (got [2,3], [2,4] and [2,3])")
    H.raises(function() local _ = loss:forward(x, x, oml.zeros(2, 3, "float64")) end,
             "oml.losses.TripletLoss: anchor, positive and negative must have one dtype")
    H.raises(function() local _ = loss:forward(oml.zeros(3), x, x) end,
             "oml.losses.TripletLoss: anchor must be a float32 or float64 tensor [B, D]")
    H.raises(function() local _ = losses.TripletLoss { margin = -1 } end,
             "oml.losses.TripletLoss: margin must be a positive number or nil")
    H.raises(function() local _ = losses.TripletLoss { reduction = "none" } end,
             "oml.losses.TripletLoss: reduction must be \"mean\" or \"sum\" (got none)")
    H.raises(function() local _ = losses.TripletLoss { margn = 1 } end,
             "oml.losses.TripletLoss: unknown argument 'margn'")
    H.raises(function() local _ = losses.TripletLoss { margin = 0.1 }:backward(x, x, x) end,
             "oml.losses.TripletLoss: backward needs a forward first")
  end)
end)

describe("oml.losses.TripletLossPlain", function()
  it("takes rows a, p, n, a, p, n, ... and has the gradient of finite differences", function()
    local x = random_features(12, 3)
    local rows = x:totable()
    local loss = losses.TripletLossPlain { margin = 2 }
    H.close(loss:forward(x), textbook(rows, { 1, 4, 7, 10 }, { 2, 5, 8, 11 }, { 3, 6, 9, 12 }, 2), 1e-12)
    J.check_criterion(loss, x)
    J.check_criterion(losses.TripletLossPlain { reduction = "sum" }, x)
    H.raises(function() local _ = loss:forward(oml.zeros(4, 2)) end,
             "oml.losses.TripletLossPlain: features must have 3N rows (anchor, positive, negative, ...) (got 4)")
  end)
end)

describe("oml.losses.TripletLossWithMiner", function()
  it("is 0 with a margin and log1p(exp(-sqrt 2)) soft for a perfect one-hot model", function()
    local labels = balanced_labels(4, 3)
    local x = one_hot(labels, 6)
    for _, miner in ipairs { miners.AllTripletsMiner(), miners.HardTripletsMiner(),
                             miners.NHardTripletsMiner { n_positive = 2, n_negative = { 2, 4 } } } do
      H.close(losses.TripletLossWithMiner { margin = 0.5, miner = miner }:forward(x, labels), 0, 1e-7)
      H.close(losses.TripletLossWithMiner { miner = miner }:forward(x, labels), math.log(1 + math.exp(-math.sqrt(2))),
              1e-6)
    end
  end)

  it("equals the textbook formula over the mined triplets", function()
    local labels = balanced_labels(5, 6)   -- 30 rows: the distances go through a GEMM
    local x = random_features(#labels, 8)
    local rows = x:totable()
    -- the capped miner draws from oml's default generator, reseeded alike
    for _, miner in ipairs { miners.AllTripletsMiner(), miners.HardTripletsMiner(),
                             miners.AllTripletsMiner { max_output_triplets = 50 } } do
      for _, margin in ipairs { 0.4, false } do
        for _, reduction in ipairs { "mean", "sum" } do
          local loss = losses.TripletLossWithMiner { margin = margin or nil, miner = miner, reduction = reduction }
          oml.manual_seed(5)
          local value = loss:forward(x, labels)
          oml.manual_seed(5)
          local a, p, n = miner:sample(x, labels)
          H.close(value, textbook(rows, a:totable(), p:totable(), n:totable(), margin or nil, reduction), 1e-9)
        end
      end
    end
  end)

  it("takes labels as a tensor and float32 features", function()
    local labels = balanced_labels(3, 4)
    local x = random_features(#labels, 4)
    local loss = losses.TripletLossWithMiner { margin = 0.3 }
    local want = loss:forward(x, labels)
    H.close(loss:forward(x:float(), oml.tensor(labels, "int64")), want, 1e-5)
    -- a transposed view
    H.close(loss:forward(x:t():contiguous():t(), labels), want, 1e-12)
  end)

  it("keeps OML's logs", function()
    local labels = { 0, 0, 1, 1 }
    local x = oml.tensor { { 0, 0 }, { 1, 0 }, { 0, 3 }, { 0, 4 } }
    local loss = losses.TripletLossWithMiner { margin = 0.5, miner = miners.HardTripletsMiner(), need_logs = true }
    loss:forward(x, labels)
    -- anchors 1..4: (d_ap, d_an) = (1, 3), (1, sqrt 10), (1, 3), (1, 4)
    H.close(loss.last_logs.active_tri, 0)
    H.close(loss.last_logs.pos_dist, 1)
    H.close(loss.last_logs.neg_dist, (10 + math.sqrt(10)) / 4, 1e-6)
  end)

  it("has the gradient of finite differences with every in-batch miner", function()
    local labels = balanced_labels(3, 3)
    local x = random_features(#labels, 4)
    local cases = {
      miners.AllTripletsMiner(), miners.HardTripletsMiner(),
      miners.NHardTripletsMiner { n_positive = { 1, 2 }, n_negative = 3 },
      miners.AllTripletsMiner { max_output_triplets = 20 },   -- reseeded before each forward by J
    }
    for _, miner in ipairs(cases) do
      for _, margin in ipairs { 1.0, false } do
        J.check_criterion(losses.TripletLossWithMiner { margin = margin or nil, miner = miner }, x, labels)
      end
    end
    J.check_criterion(losses.TripletLossWithMiner { margin = 2, reduction = "sum" }, x, labels)
    -- 27 rows: the distance matrix comes from a GEMM
    local many = balanced_labels(3, 9)
    J.check_criterion(losses.TripletLossWithMiner { miner = miners.HardTripletsMiner() }, random_features(27, 3),
                      many)
  end)

  it("names itself in errors", function()
    local loss = losses.TripletLossWithMiner { margin = 0.1 }
    H.raises(function() local _ = loss:forward(oml.zeros(4, 2), { 1, 1, 2 }) end,
             "oml.losses.TripletLossWithMiner: features has 4 rows but there are 3 labels")
    H.raises(function() local _ = loss:forward(oml.zeros(4, 2), { 1, 1, 2, 2.5 }) end,
             "oml.losses.TripletLossWithMiner: labels[4] must be an integer (got 2.5)")
    H.raises(function() local _ = loss:forward(oml.zeros(4, 2), { 1, 1, 1, 2 }) end,
             "oml.miners.AllTripletsMiner: label 2 has 1 item")
    H.raises(function() local _ = losses.TripletLossWithMiner { miner = 3 } end,
             "oml.losses.TripletLossWithMiner: miner must be a miner with a sample method (got number)")
    H.raises(function() local _ = losses.TripletLossWithMiner { miner = miners.HardClusterMiner() } end,
             "oml.losses.TripletLossWithMiner: HardClusterMiner returns vectors")
    H.raises(function() local _ = losses.TripletLossWithMiner {}:backward(oml.zeros(4, 2), { 1, 1, 2, 2 }) end,
             "oml.losses.TripletLossWithMiner: backward needs a forward first")
  end)
end)

describe("oml.losses.ContrastiveLoss", function()
  -- pytorch-metric-learning's definition, by hand
  local function by_hand(rows, labels, pos_margin, neg_margin)
    local total, count = 0, 0
    for i = 1, #labels do
      for j = i + 1, #labels do
        local d = distance(rows, i, j)
        total = total + (labels[i] == labels[j] and math.max(0, d - pos_margin) or math.max(0, neg_margin - d))
        count = count + 1
      end
    end
    return total / count
  end

  it("averages relu(d - pos_margin) over positive pairs and relu(neg_margin - d) over negative ones", function()
    local labels = balanced_labels(3, 3)
    local x = random_features(#labels, 3)
    local loss = losses.ContrastiveLoss { pos_margin = 0.5, neg_margin = 2.5, need_logs = true }
    H.close(loss:forward(x, labels), by_hand(x:totable(), labels, 0.5, 2.5), 1e-12)
    H.close(losses.ContrastiveLoss {}:forward(x, labels), by_hand(x:totable(), labels, 0, 1), 1e-12)
    assert.is_number(loss.last_logs.pos_dist)
    assert.is_number(loss.last_logs.active_neg)
  end)

  it("has the gradient of finite differences, all pairs and hard pairs", function()
    local labels = balanced_labels(3, 3)
    local x = random_features(#labels, 3)
    J.check_criterion(losses.ContrastiveLoss { pos_margin = 0.3, neg_margin = 2 }, x, labels)
    J.check_criterion(losses.ContrastiveLoss { miner = miners.PairsMiner(), neg_margin = 3, reduction = "sum" }, x,
                      labels)
  end)

  it("names itself in errors", function()
    H.raises(function() local _ = losses.ContrastiveLoss { neg_margin = "1" } end,
             "oml.losses.ContrastiveLoss: neg_margin must be a number (got 1)")
    H.raises(function()
      local _ = losses.ContrastiveLoss { miner = miners.HardTripletsMiner() }:forward(oml.zeros(4, 2), { 1, 1, 2, 2 })
    end, "oml.losses.ContrastiveLoss: the miner must return pairs and their is_negative flags")
  end)
end)

-- The inputs of make_losses.py: x [6, 5], the weight [4, 5], labels.
local function arcface_inputs()
  local x, w = {}, {}
  for i = 0, 5 do
    x[i + 1] = {}
    for j = 0, 4 do x[i + 1][j + 1] = math.cos(0.37 * i + 0.91 * j) + 0.1 * (j - 2) end
  end
  for c = 0, 3 do
    w[c + 1] = {}
    for j = 0, 4 do w[c + 1][j + 1] = math.sin(0.7 * c + 1.3 * j) end
  end
  return oml.tensor(x, "float64"), oml.tensor(w, "float64"), { 0, 1, 2, 3, 0, 1 }
end

describe("oml.losses.ArcFaceLoss", function()
  it("matches OML's formulas in PyTorch, with and without (category) label smoothing", function()
    local cases = {
      arcface = {},
      arcface_s8 = { s = 8 },
      arcface_smooth = { m = 0.3, s = 8, smoothing_epsilon = 0.2 },
      arcface_category = { m = 0.3, s = 8, smoothing_epsilon = 0.2, label2category = { [0] = "a", "b", "b", "a" } },
    }
    for key, args in pairs(cases) do
      local x, w, labels = arcface_inputs()
      args.in_features, args.num_classes = 5, 4
      local loss = losses.ArcFaceLoss(args):double()
      loss.weight:copy_(w)
      H.close(loss:forward(x, labels), expected[key].loss, 1e-10)
      H.close(loss:backward(x, labels), expected[key].grad_x, 1e-9)
      H.close(loss.grads.weight, expected[key].grad_w, 1e-9)
    end
  end)

  it("has the gradient of finite differences for the features and the weight", function()
    local x = random_features(7, 4)
    local labels = { 0, 1, 2, 0, 1, 2, 2 }
    J.check_criterion(losses.ArcFaceLoss { in_features = 4, num_classes = 3, s = 4 }:double(), x, labels)
    J.check_criterion(losses.ArcFaceLoss { in_features = 4, num_classes = 3, s = 4, m = 2.8, reduction = "sum" }
                        :double(), x, labels)   -- m near pi: labels below th take cos - mm
    J.check_criterion(losses.ArcFaceLoss { in_features = 4, num_classes = 3, s = 4, smoothing_epsilon = 0.3,
                                           label2category = { [0] = 1, 1, 2 } }:double(), x, labels)
  end)

  it("is trained by SGD: the loss falls (OML's test_arcface_trainable)", function()
    -- OML's dataset1: 10 random points in [0,1)^2, label x1 > x2
    for _, seed in ipairs { 2, 4, 8, 16 } do
      oml.manual_seed(seed)
      local x = oml.rand(10, 2)
      local labels = {}
      for i, row in ipairs(x:totable()) do labels[i] = row[1] > row[2] and 1 or 0 end
      local loss = losses.ArcFaceLoss { in_features = 2, num_classes = 2 }
      local first = loss:forward(x, labels)
      -- SGD(lr = 0.05, momentum = 0.5) on the weight, as OML's test
      local velocity = oml.zeros_like(loss.weight)
      for _ = 1, 10 do
        loss:zeroGradParameters()
        loss:forward(x, labels)
        loss:backward(x, labels)
        velocity:mul_(0.5):add_(loss.grads.weight)
        loss.weight:sub_(velocity * 0.05)
      end
      assert.is_true(loss:forward(x, labels) < first)
    end
  end)

  it("gets better when the features train too, and logs accuracy", function()
    local labels = balanced_labels(4, 5)
    local x = random_features(#labels, 6, "float32")
    local loss = losses.ArcFaceLoss { in_features = 6, num_classes = 4, s = 16, m = 0.2 }
    local first = loss:forward(x, labels)
    for _ = 1, 30 do
      loss:zeroGradParameters()
      loss:forward(x, labels)
      local grad = loss:backward(x, labels)
      x:sub_(grad * 0.5)
      loss.weight:sub_(loss.grads.weight * 0.5)
    end
    assert.is_true(loss:forward(x, labels) < 0.5 * first)
    H.close(loss.last_logs.accuracy, 1)
  end)

  it("smooths labels inside the category (OML's test_label_smoothing_fuzzy)", function()
    local x = oml.tensor { { 1, 0, 0 }, { 0, 0.5, 0.5 }, { 0, 0.5, 0.5 } }
    for _, eps in ipairs { 0.1, 0.5 } do
      local smooth = losses.ArcFaceLoss { in_features = 3, num_classes = 3, smoothing_epsilon = eps,
                                          label2category = { [0] = 0, 1, 1 } }
      local plain = losses.ArcFaceLoss { in_features = 3, num_classes = 3 }
      smooth.weight:copy_(oml.eye(3))
      plain.weight:copy_(oml.eye(3))
      assert.is_true(plain:forward(x, { 0, 1, 2 }) > smooth:forward(x, { 0, 1, 2 }))
    end
  end)

  it("names itself in errors", function()
    local loss = losses.ArcFaceLoss { in_features = 3, num_classes = 2 }
    H.raises(function() local _ = loss:forward(oml.zeros(2, 4), { 0, 1 }) end,
             "oml.losses.ArcFaceLoss: features have 4 columns but in_features is 3")
    H.raises(function() local _ = loss:forward(oml.zeros(2, 3), { 0, 2 }) end,
             "oml.losses.ArcFaceLoss: labels[2] is 2; labels must be in 0 .. num_classes - 1 = 1")
    H.raises(function() local _ = loss:forward(oml.zeros(2, 3, "float64"), { 0, 1 }) end,
             "oml.losses.ArcFaceLoss: features are float64 but the weight is float32")
    H.raises(function() local _ = losses.ArcFaceLoss { in_features = 3, num_classes = 2, smoothing_epsilon = 1 } end,
             "oml.losses.ArcFaceLoss: smoothing_epsilon must be in [0, 1) (got 1)")
    H.raises(function() local _ = losses.ArcFaceLoss { in_features = 3, num_classes = 0 } end,
             "oml.losses.ArcFaceLoss: num_classes must be a positive integer (got 0)")
    H.raises(function()
      local _ = losses.ArcFaceLoss { in_features = 3, num_classes = 3, smoothing_epsilon = 0.1, label2category = { [0] = 1 } }
    end, "oml.losses.ArcFaceLoss: label2category has no category for label 1")
  end)
end)

describe("oml.losses.ArcFaceLossWithMLP", function()
  it("names its parameters as torchvision's MLP and OML, and has the gradient of finite differences", function()
    local loss = losses.ArcFaceLossWithMLP { in_features = 4, num_classes = 3, mlp_features = { 5, 3 }, s = 4 }
    local _, names = loss:state_dict()
    assert.same({ "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias", "arcface.weight" }, names)
    J.check_criterion(loss:double(), random_features(6, 4), { 0, 1, 2, 0, 1, 2 })
    H.raises(function() local _ = loss:forward(oml.zeros(2, 3, "float64"), { 0, 1 }) end,
             "oml.losses.ArcFaceLossWithMLP: features have 3 columns but in_features is 4")
    H.raises(function() local _ = losses.ArcFaceLossWithMLP { in_features = 4, num_classes = 3, mlp_features = {} } end,
             "oml.losses.ArcFaceLossWithMLP: mlp_features must be a non-empty list of layer sizes")
  end)
end)

describe("oml.losses.SurrogatePrecision", function()
  local function surrogate_inputs()
    local x = {}
    for i = 0, 7 do
      x[i + 1] = {}
      for j = 0, 2 do x[i + 1][j + 1] = math.sin(1.1 * i + 0.5 * j * j) end
    end
    return oml.tensor(x, "float64"), { 0, 0, 1, 1, 1, 2, 2, 0 }
  end

  it("matches OML's formula in PyTorch", function()
    local x, labels = surrogate_inputs()
    for key, args in pairs { surrogate = { k = 2, temperature1 = 1, temperature2 = 0.5 },
                             surrogate_sharp = { k = 1, temperature1 = 0.5, temperature2 = 0.05 } } do
      local loss = losses.SurrogatePrecision(args)
      H.close(loss:forward(x, labels), expected[key].loss, 1e-10)
      H.close(loss:backward(x, labels), expected[key].grad_x, 1e-9)
    end
  end)

  it("approaches the exact precision@k with tiny temperatures", function()
    local labels = balanced_labels(4, 5)
    local x = random_features(#labels, 3)
    local rows = x:totable()
    for _, k in ipairs { 1, 3, 6 } do
      -- each row is a query against the batch, itself first: the share of
      -- its k + 1 nearest with its label, over min(#label, k + 1)
      local total = 0
      for i = 1, #labels do
        local order = {}
        for j = 1, #labels do order[j] = j end
        table.sort(order, function(u, v) return distance(rows, i, u) < distance(rows, i, v) end)
        local hits, same = 0, 0
        for r, j in ipairs(order) do
          if labels[j] == labels[i] then
            same = same + 1
            if r <= k + 1 then hits = hits + 1 end
          end
        end
        total = total + hits / math.min(same, k + 1)
      end
      local loss = losses.SurrogatePrecision { k = k, temperature1 = 1e-4, temperature2 = 1e-7 }
      H.close(loss:forward(x, labels), 1 - total / #labels, 1e-6)
    end
  end)

  it("has the gradient of finite differences, also over several blocks of queries", function()
    local labels = balanced_labels(3, 3)
    J.check_criterion(losses.SurrogatePrecision { k = 2, temperature1 = 0.5, temperature2 = 0.2 },
                      random_features(#labels, 3), labels)
    J.check_criterion(losses.SurrogatePrecision { k = 1, reduction = "sum", temperature2 = 0.3 },
                      random_features(#labels, 3), labels)
  end)

  it("takes the queries in blocks: 170 rows make two, and the sums still agree", function()
    local labels = balanced_labels(17, 10)
    local x = random_features(#labels, 3)
    local loss = losses.SurrogatePrecision { k = 4, temperature1 = 0.5, temperature2 = 0.1 }
    local value = loss:forward(x, labels)
    -- OML's formula, element by element
    local dist, b, total = oml.cdist(x, x):totable(), #labels, 0
    local function sigmoid(z) return 1 / (1 + math.exp(-z)) end
    for i = 1, b do
      local hits, same = 0, 0
      for j = 1, b do
        if labels[j] == labels[i] then
          local rank = 0
          for l = 1, b do rank = rank + sigmoid((dist[i][j] - dist[i][l]) / 0.1) end
          hits = hits + sigmoid((5 - rank) / 0.5)
          same = same + 1
        end
      end
      total = total + hits / math.min(same, 5)
    end
    H.close(value, 1 - total / b, 1e-10)
    -- the gradient along a random direction, by central differences
    local grad = loss:backward(x, labels)
    local v = random_features(b, 3)
    local eps = 1e-6
    local slope = (loss:forward(x + v * eps, labels) - loss:forward(x - v * eps, labels)) / (2 * eps)
    H.close((grad * v):sum():item(), slope, 1e-6)
  end)

  it("names itself in errors", function()
    H.raises(function() local _ = losses.SurrogatePrecision { k = 0 } end,
             "oml.losses.SurrogatePrecision: k must be a positive integer (got 0)")
    H.raises(function() local _ = losses.SurrogatePrecision { k = 1, temperature2 = 0 } end,
             "oml.losses.SurrogatePrecision: temperature2 must be a positive number (got 0)")
    H.raises(function() local _ = losses.SurrogatePrecision { k = 1 }:forward(oml.zeros(3, 2), { 1, 2 }) end,
             "oml.losses.SurrogatePrecision: features has 3 rows but there are 2 labels")
  end)
end)
