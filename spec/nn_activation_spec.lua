-- Activations, softmax and the small layers around them: ReLU, GELU, Softmax,
-- Dropout, Identity, Flatten, Normalize (lua/oml/nn, lua/oml/nn/functional.lua,
-- engine/src/ops/activation.c). Expected values: spec/fixtures/nn/make_act.py
-- (torch 1.13's F.relu, F.gelu, F.softmax, F.log_softmax and F.normalize,
-- forward and autograd), read from act.safetensors.
local oml = require "oml"
local nn = require "oml.nn"
local F = require "oml.nn.functional"
local T = require "oml.tensor"
local H = require "helper"
local J = require "jacobian"

local FX = oml.load("spec/fixtures/nn/act.safetensors")
local nan, inf = 0 / 0, math.huge

-- forward and backward of a module against the fixture's case
local function replay(case, module, x, g, tol)
  H.close(module:forward(x), FX[case .. ".y"], tol)
  H.close(module:backward(x, g), FX[case .. ".gx"], tol)
end

describe("oml.nn.ReLU and oml.nn.GELU", function()
  local x, g = FX["act.x"], FX["act.g"]

  it("match PyTorch in float64", function()
    replay("relu", nn.ReLU():double(), x, g, 1e-12)
    replay("gelu", nn.GELU():double(), x, g, 1e-12)
    replay("gelu_tanh", nn.GELU { approximate = "tanh" }:double(), x, g, 1e-12)
  end)

  it("match PyTorch in float32 within its rounding", function()
    -- float32 GELU uses vectorisable erfc and exp approximations
    replay("gelu_f32", nn.GELU(), x:float(), g:float(), 1e-6)
    replay("gelu_tanh_f32", nn.GELU { approximate = "tanh" }, x:float(), g:float(), 3e-6)
    replay("relu", nn.ReLU(), x:float(), g:float(), 1e-7)
    -- and stay close to the exact values
    H.close(F.gelu(x:float()), FX["gelu.y"], 1e-6)
    H.close(F.gelu_backward(x:float(), g:float()), FX["gelu.gx"], 1e-6)
    H.close(F.gelu(x:float(), "tanh"), FX["gelu_tanh.y"], 1e-6)
    H.close(F.gelu_backward(x:float(), g:float(), { approximate = "tanh" }), FX["gelu_tanh.gx"], 1e-6)
  end)

  it("keep the lower tail of float32 GELU precise", function()
    -- x Phi(x) from erfc: math.erfc gives Phi(-5) = 2.866515718791939e-07, Phi(-8) = 6.22096057427174e-16
    H.close(F.gelu(oml.tensor { -5, -8 }), { -5 * 2.866515718791939e-07, -8 * 6.22096057427174e-16 }, 1e-5)
  end)

  it("propagate NaN and handle infinities as PyTorch", function()
    local y = F.relu(oml.tensor { nan, -inf, inf, -0.5, 0 })
    H.close(y, { nan, 0, inf, 0, 0 })
    -- torch 1.13: F.gelu(torch.tensor([nan, inf, -inf])) is [nan, inf, nan]
    H.close(F.gelu(oml.tensor { nan, inf, -inf }), { nan, inf, nan })
    H.close(F.gelu(oml.tensor({ nan, inf, -inf }, "float64")), { nan, inf, nan })
    H.close(F.gelu(oml.tensor { nan, inf, -100 }, "tanh"), { nan, inf, 0 })
    H.close(F.relu_backward(oml.tensor { nan, -1, 0, 2 }, oml.ones { 4 }), { 0, 0, 0, 1 })
  end)

  it("take non-contiguous and expanded inputs", function()
    local xt = x:transpose(1, 3)
    H.close(F.gelu(xt), FX["gelu.y"]:transpose(1, 3), 1e-12)
    H.close(F.gelu_backward(xt, g:transpose(1, 3)), FX["gelu.gx"]:transpose(1, 3), 1e-12)
    local e = oml.tensor({ { -1, 2 } }):expand(3, 2)
    H.close(F.relu(e), { { 0, 2 }, { 0, 2 }, { 0, 2 } })
    H.close(F.gelu(oml.empty { 0, 3 }):size(), { 0, 3 })
  end)

  it("ReLU in place overwrites its input and still gives the gradient", function()
    local a = oml.tensor { { -1, 2 }, { 3, -4 } }
    local relu = nn.ReLU { inplace = true }
    local y = relu:forward(a)
    H.close(a, { { 0, 2 }, { 3, 0 } })
    assert.are.equal(tostring(y.data_), tostring(a.data_))
    H.close(relu:backward(a, oml.full({ 2, 2 }, 5)), { { 0, 5 }, { 5, 0 } })
    assert.are.equal("ReLU(inplace=true)", tostring(relu))
  end)

  it("read an input that overlaps the output from a copy", function()
    -- the engine's out convention: out = a:t() shares a's memory
    local a = oml.tensor { { -1, 2 }, { 3, -4 } }
    T.check(T.C.oml_activation_forward(a, a:t(), T.C.OML_RELU), "spec")
    H.close(a, { { 0, 3 }, { 2, 0 } })
  end)

  it("pass the Jacobian check", function()
    local x64 = oml.randn({ 3, 4, 5 }, { dtype = "float64" })
    J.check(nn.ReLU():double(), x64)
    J.check(nn.GELU():double(), x64)
    J.check(nn.GELU { approximate = "tanh" }:double(), x64)
  end)

  it("name the layer and the problem in their errors", function()
    H.raises(function() local _ = nn.GELU { approximate = "fast" } end,
      'oml.nn.GELU: approximate must be "none" or "tanh" (got fast)')
    H.raises(function() local _ = nn.GELU { approx = "tanh" } end, "oml.nn.GELU: unknown option 'approx'")
    H.raises(function() local _ = nn.ReLU():forward(oml.tensor { 1, 2 }:long()) end,
      "oml.nn.ReLU: the input is int64; expected float32 or float64")
    H.raises(function() local _ = nn.GELU():forward(T.new()) end, "oml.nn.GELU: the input is an unset tensor")
    H.raises(function() local _ = nn.GELU():backward(oml.zeros { 3 }, oml.zeros { 2 }) end,
      "oml.nn.GELU: grad_output has shape [2] but the input has shape [3]")
    H.raises(function() local _ = nn.ReLU():backward(oml.zeros { 3 }, oml.zeros({ 3 }, "float64")) end,
      "oml.nn.ReLU: grad_output is float64 but the input is float32")
    H.raises(function() local _ = F.gelu(7) end, "oml.nn.functional.gelu: the input must be a tensor (got number)")
  end)
end)

describe("softmax and log-softmax", function()
  local x, g = FX["softmax.x"], FX["softmax.g"]

  it("match PyTorch along every dim, forward and backward", function()
    for d = 1, 3 do
      local case = "softmax" .. (d - 1)
      local y = F.softmax(x, d)
      H.close(y, FX[case .. ".y"], 1e-12)
      H.close(F.softmax_backward(y, g, d), FX[case .. ".gx"], 1e-12)
      case = "log_softmax" .. (d - 1)
      y = F.log_softmax(x, d - 4) -- negative dims count from the end
      H.close(y, FX[case .. ".y"], 1e-12)
      H.close(F.log_softmax_backward(y, g, d), FX[case .. ".gx"], 1e-12)
      -- float32
      H.close(F.softmax(x:float(), d), FX["softmax" .. (d - 1) .. ".y"], 1e-6)
      H.close(F.log_softmax(x:float(), d), FX[case .. ".y"], 1e-6)
    end
  end)

  it("the Softmax layer matches and passes the Jacobian check", function()
    replay("softmax2", nn.Softmax(-1):double(), x, g, 1e-12)
    replay("softmax1", nn.Softmax(2), x:float(), g:float(), 1e-6)
    J.check(nn.Softmax(1):double(), x)
    J.check(nn.Softmax(3):double(), x)
    assert.are.equal("Softmax(dim=-1)", tostring(nn.Softmax(-1)))
  end)

  it("subtracts the maximum, and handles -inf and NaN as PyTorch", function()
    H.close(F.softmax(oml.tensor { 1000, 1000, -inf }, 1), { 0.5, 0.5, 0 })
    H.close(F.log_softmax(oml.tensor({ 1000, 0 }, "float64"), 1), { 0, -1000 })
    -- a NaN makes its own line NaN and leaves the others alone
    H.close(F.softmax(oml.tensor { { 1, nan }, { 0, 0 } }, 2), { { nan, nan }, { 0.5, 0.5 } })
  end)

  it("takes non-contiguous inputs, empty ones and 0-d ones", function()
    local xt = x:transpose(1, 3)
    H.close(F.softmax(xt, 3), FX["softmax0.y"]:transpose(1, 3), 1e-12)
    local y = F.log_softmax(xt, 1)
    H.close(y, FX["log_softmax2.y"]:transpose(1, 3), 1e-12)
    H.close(F.log_softmax_backward(y, g:transpose(1, 3), 1), FX["log_softmax2.gx"]:transpose(1, 3), 1e-12)
    H.close(F.softmax(oml.empty { 3, 0 }, 2):size(), { 3, 0 })
    H.close(F.softmax(oml.empty { 0, 4 }, 2):size(), { 0, 4 })
    H.close(F.softmax(oml.tensor(5), 1), 1)
  end)

  it("gives the same values for any thread count", function()
    local big = oml.randn { 64, 300 }
    local threads = oml.get_num_threads()
    oml.set_num_threads(1)
    local one = F.softmax(big, 2)
    oml.set_num_threads(2)
    local two = F.softmax(big, 2)
    oml.set_num_threads(threads)
    H.close(two, one, 0)
  end)

  it("names the function and the problem in its errors", function()
    H.raises(function() local _ = F.softmax(x) end, "oml.nn.functional.softmax: dim must be given")
    H.raises(function() local _ = F.softmax(x, 4) end,
      "oml.nn.functional.softmax: dim 4 is out of range for a 3-d tensor")
    H.raises(function() local _ = F.log_softmax_backward(x, g:narrow(1, 1, 2), 1) end,
      "oml.nn.functional.log_softmax_backward: grad_output has shape [2,4,5] but the output has shape [3,4,5]")
    H.raises(function() local _ = F.softmax(oml.tensor { 1, 2 }:int(), 1) end,
      "oml.nn.functional.softmax: the input is int32; expected float32 or float64")
    H.raises(function() local _ = nn.Softmax() end, "oml.nn.Softmax: dim must be given")
    H.raises(function() local _ = nn.Softmax(3):forward(oml.zeros { 2, 2 }) end,
      "oml.nn.Softmax: dim 3 is out of range for a 2-d tensor")
  end)
end)

describe("oml.nn.Dropout", function()
  it("is the identity in evaluation mode and for p = 0", function()
    local x = oml.randn { 4, 5 }
    local d = nn.Dropout(0.5):evaluate()
    assert.are.equal(x, d:forward(x))
    local g = oml.randn { 4, 5 }
    assert.are.equal(g, d:backward(x, g))
    assert.are.equal(x, nn.Dropout(0):forward(x))
  end)

  it("zeroes with probability p, scales the rest by 1/(1-p), and is seeded", function()
    local x = oml.ones { 100, 100 }
    local d = nn.Dropout(0.25)
    oml.manual_seed(7)
    local y = d:forward(x)
    local kept = y:gt(0):sum():item()
    assert.is_true(kept > 7200 and kept < 7800, "kept " .. kept)
    H.close(y:eq(0):logical_or(y:eq(4 / 3)):all():item(), true)
    oml.manual_seed(7)
    H.close(nn.Dropout(0.25):forward(x), y, 0)
    -- backward applies the same mask
    H.close(d:backward(x, oml.full({ 100, 100 }, 3)), y * 3, 1e-6)
    H.close(nn.Dropout(1):forward(x):abs():sum():item(), 0)
    assert.are.equal("Dropout(p=0.25)", tostring(d))
  end)

  it("passes the Jacobian check in training and evaluation", function()
    local x = oml.randn({ 3, 4 }, { dtype = "float64" })
    J.check(nn.Dropout(0.3):double(), x)
    J.check(nn.Dropout(0.3):double():evaluate(), x)
  end)

  it("checks p", function()
    H.raises(function() local _ = nn.Dropout(1.5) end, "oml.nn.Dropout: p must be a number in [0, 1] (got 1.5)")
    H.raises(function() local _ = nn.Dropout("x") end, "oml.nn.Dropout: p must be a number in [0, 1] (got x)")
  end)
end)

describe("oml.nn.Identity and oml.nn.Flatten", function()
  it("Identity passes input and gradient through", function()
    local x, g = oml.randn { 2, 3 }, oml.randn { 2, 3 }
    local m = nn.Identity(54, "ignored")
    assert.are.equal(x, m:forward(x))
    assert.are.equal(g, m:backward(x, g))
    J.check(nn.Identity():double(), x:double())
  end)

  it("Flatten merges start_dim..end_dim and reshapes the gradient back", function()
    local x = oml.randn { 2, 3, 4, 5 }
    H.close(nn.Flatten():forward(x):size(), { 2, 60 })
    H.close(nn.Flatten { start_dim = 1 }:forward(x):size(), { 120 })
    local f = nn.Flatten { start_dim = 2, end_dim = 3 }
    H.close(f:forward(x):size(), { 2, 12, 5 })
    H.close(f:forward(x), x:reshape(2, 12, 5))
    H.close(f:backward(x, oml.ones { 2, 12, 5 }):size(), { 2, 3, 4, 5 })
    local xt = x:transpose(1, 4)
    H.close(nn.Flatten { start_dim = -2 }:forward(xt), xt:contiguous():view(5, 3, 8))
    J.check(nn.Flatten():double(), x:double())
    assert.are.equal("Flatten(start_dim=2, end_dim=-1)", tostring(nn.Flatten()))
  end)

  it("Flatten names the problem", function()
    H.raises(function() local _ = nn.Flatten():forward(oml.zeros { 3 }) end,
      "oml.nn.Flatten: dim 2 is out of range for a 1-d tensor")
    H.raises(function() local _ = nn.Flatten { start_dim = 3, end_dim = 2 }:forward(oml.zeros { 2, 2, 2 }) end,
      "oml.nn.Flatten: start_dim 3 comes after end_dim 2 for a 3-d input")
    H.raises(function() local _ = nn.Flatten():backward(oml.zeros { 2, 2 }, oml.zeros { 5 }) end,
      "oml.nn.Flatten: grad_output has shape [5] but the input has shape [2,2]")
  end)
end)

describe("oml.nn.Normalize", function()
  local x, g = FX["normalize.x"], FX["normalize.g"]

  it("matches F.normalize for p = 2 and 3, a zero row included", function()
    replay("normalize_p2", nn.Normalize():double(), x, g, 1e-12)
    replay("normalize_p3", nn.Normalize { p = 3 }:double(), x, g, 1e-12)
    H.close(nn.Normalize():forward(x:float()), FX["normalize_p2.y"], 1e-6)
  end)

  it("normalises along any dim of a non-contiguous input", function()
    local m = nn.Normalize { dim = 1 }:double()
    H.close(m:forward(x:t()), FX["normalize_p2.y"]:t(), 1e-12)
    H.close(m:backward(x:t(), g:t()), FX["normalize_p2.gx"]:t(), 1e-12)
  end)

  it("passes the Jacobian check", function()
    local x64 = oml.randn({ 3, 5 }, { dtype = "float64" })
    J.check(nn.Normalize():double(), x64)
    J.check(nn.Normalize { p = 1.5, dim = 1 }:double(), x64)
    J.check(nn.Normalize { p = 3, dim = -1 }:double(), oml.randn({ 2, 3, 4 }, { dtype = "float64" }))
  end)

  it("checks its options and input", function()
    H.raises(function() local _ = nn.Normalize { p = 0.5 } end,
      "oml.nn.Normalize: p must be a finite number >= 1 (got 0.5)")
    H.raises(function() local _ = nn.Normalize { eps = -1 } end, "oml.nn.Normalize: eps must be a number >= 0 (got -1)")
    H.raises(function() local _ = nn.Normalize():forward(oml.zeros { 4 }) end,
      "oml.nn.Normalize: dim 2 is out of range for a 1-d tensor")
    H.raises(function() local _ = nn.Normalize():backward(oml.zeros { 2, 2 }, oml.zeros { 2, 3 }) end,
      "oml.nn.Normalize: grad_output has shape [2,3] but the input has shape [2,2]")
  end)
end)
