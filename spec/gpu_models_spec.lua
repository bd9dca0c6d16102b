-- Models, optimizers, losses and the train pipeline on a GPU (#gpu): each
-- runs on the CPU and, from the same weights and inputs, on the device
-- after model:cuda() / criterion:cuda(), and the results agree. The CPU side
-- is checked against PyTorch and finite differences elsewhere.
local H = require "helper"
local G = require "gpu_helper"
local gpu_describe = G.describe
local oml = require "oml"
local cjson = require "cjson"
local config = require "oml.pipelines.config"
local train = require "oml.pipelines.train"
local losses, miners = oml.losses, oml.miners
local R, V = oml.models.resnet, oml.models.vit


local DEVICE = G.device
local function device_name() return DEVICE == "cpu" and "cpu" or "cuda:0" end

-- module:cuda(), as users write it
local function to_device(module)
  if DEVICE == "cpu" then return module:to("cpu") end
  return module:cuda()
end

-- max |a - b| / max |b| (b nonzero), with a on the device and b on the CPU
local function relative_error(a, b)
  assert.equal(device_name(), a.device)
  assert.same(b:size(), a:size())
  local scale = math.max(b:double():abs():max():item(), 1e-30)
  return (a:cpu():double() - b:double()):abs():max():item() / scale
end

local function close(a, b, tol, what)
  local err = relative_error(a, b)
  assert(err <= tol, ("%s: relative error %.3g above %.3g"):format(what, err, tol))
end

-- Two copies of model with the same weights and buffers: one on the CPU,
-- one moved to the device.
local function twins(build)
  local cpu = build()
  local gpu = build()
  gpu:load_state_dict((cpu:state_dict()))
  return cpu, to_device(gpu)
end

-- Forward and backward of sum(out * gy) on both; outputs, input gradients,
-- every parameter gradient and every buffer compared.
local function check_model(cpu, gpu, x, tol)
  local out_c = cpu:forward(x)
  local xg = x:to(DEVICE)
  local out_g = gpu:forward(xg)
  close(out_g, out_c, tol, "output")
  oml.manual_seed(5)
  local gy = oml.randn(out_c:size())
  local gx_c = cpu:backward(x, gy)
  local gx_g = gpu:backward(xg, gy:to(DEVICE))
  close(gx_g, gx_c, tol, "grad_input")
  local params_g = gpu:named_parameters()
  for i, e in ipairs(cpu:named_parameters()) do
    local g = params_g[i]
    assert.equal(e.name, g.name)
    assert.equal(device_name(), g.param.device, e.name)
    close(g.module:grad(g.key), e.module:grad(e.key), tol, "grad of " .. e.name)
  end
  local buffers_g = gpu:named_buffers()
  for i, e in ipairs(cpu:named_buffers()) do
    assert.equal(device_name(), buffers_g[i].buffer.device, e.name)
    if e.buffer.dtype == "int64" then
      assert.same(e.buffer:totable(), buffers_g[i].buffer:totable(), e.name)
    else
      close(buffers_g[i].buffer, e.buffer, tol, e.name)
    end
  end
end

local function tiny_resnet()
  return R.ResNet { block = "basic", layers = { 1, 1, 1, 1 }, widths = { 4, 8, 8, 8 }, num_classes = 5 }
end

local function tiny_vit(extra)
  return function()
    local opts = { img_size = 16, patch_size = 4, embed_dim = 8, depth = 2, num_heads = 2 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return V.VisionTransformer(opts)
  end
end

gpu_describe("models on the device", function()
  it("a tiny ResNet (training mode: batch statistics, running stats) forward and backward", function()
    oml.manual_seed(1)
    local cpu, gpu = twins(tiny_resnet)
    oml.manual_seed(2)
    check_model(cpu, gpu, oml.randn(3, 3, 32, 32), 1e-4)
    -- evaluation mode uses the running statistics just updated
    cpu:evaluate()
    gpu:evaluate()
    check_model(cpu, gpu, oml.randn(2, 3, 32, 32), 1e-4)
  end)

  it("a tiny ViT forward and backward, and DINOv2's interpolated position embedding", function()
    oml.manual_seed(3)
    local cpu, gpu = twins(tiny_vit())
    oml.manual_seed(4)
    check_model(cpu, gpu, oml.randn(2, 3, 16, 16), 1e-4)
    -- a 16x12 image: the antialiased resampling of the position embedding
    cpu, gpu = twins(tiny_vit { version = 2, num_register_tokens = 2, interpolate_offset = 0,
                                interpolate_antialias = true })
    check_model(cpu, gpu, oml.randn(2, 3, 16, 12), 1e-4)
  end)

  it("extractors move whole, multi-scale ViT included", function()
    local E = oml.models
    oml.manual_seed(6)
    local cpu, gpu = twins(function()
      return E.ViTExtractor { arch = { img_size = 16, patch_size = 4, embed_dim = 8, depth = 1, num_heads = 2 },
                              use_multi_scale = true }
    end)
    check_model(cpu, gpu, oml.randn(2, 3, 16, 16), 1e-4)
  end)

  it("model:cpu() brings everything back", function()
    local _, gpu = twins(tiny_resnet)
    gpu:cpu()
    for _, e in ipairs(gpu:named_parameters()) do assert.equal("cpu", e.param.device, e.name) end
    for _, e in ipairs(gpu:named_buffers()) do assert.equal("cpu", e.buffer.device, e.name) end
  end)
end)

gpu_describe("optimizers on the device", function()
  local function train_steps(model, optimizer, xs, from, to)
    for k = from, to do
      model:zeroGradParameters()
      local out = model:forward(xs[k]:to(model.fc.weight.device))
      model:backward(xs[k]:to(out.device), out:clone():fill(1))
      optimizer:step()
    end
  end

  for _, case in ipairs {
    { "SGD with momentum", function(m) return oml.optim.SGD { params = m, lr = 0.05, momentum = 0.9 } end },
    { "AdamW", function(m) return oml.optim.AdamW { params = m, lr = 1e-2 } end },
  } do
    it(case[1] .. ": steps on the device follow the CPU's, state made before or after cuda()", function()
      oml.manual_seed(7)
      local xs = { oml.randn(2, 3, 32, 32), oml.randn(2, 3, 32, 32), oml.randn(2, 3, 32, 32) }
      local cpu, gpu = twins(tiny_resnet)
      local late = tiny_resnet()
      late:load_state_dict((cpu:state_dict()))
      local opt_c, opt_g, opt_late = case[2](cpu), case[2](gpu), case[2](late)
      train_steps(cpu, opt_c, xs, 1, 3)
      train_steps(gpu, opt_g, xs, 1, 3)
      -- one step on the CPU, then moved: the optimizer's state follows
      train_steps(late, opt_late, xs, 1, 1)
      to_device(late)
      train_steps(late, opt_late, xs, 2, 3)
      local params_g, params_late = gpu:named_parameters(), late:named_parameters()
      for i, e in ipairs(cpu:named_parameters()) do
        close(params_g[i].param, e.param, 1e-3, e.name)
        close(params_late[i].param, e.param, 1e-3, e.name .. " (state made on the CPU)")
      end
      for _, st in pairs(opt_late.state) do
        for key, v in pairs(st) do
          if oml.is_tensor(v) then assert.equal(device_name(), v.device, key) end
        end
      end
    end)
  end
end)

local function same_logs(gpu, cpu, tol)
  for key, value in pairs(cpu) do H.close(gpu[key], value, tol, key) end
end

gpu_describe("losses on the device", function()
  local labels = { 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 3 }

  -- forward (the loss and its logs) and backward on the CPU and the device
  local function check_loss(make, tol)
    oml.manual_seed(8)
    local x = oml.randn(#labels, 6)
    local cpu, gpu = make(), make()
    gpu:load_state_dict((cpu:state_dict()))
    to_device(gpu)
    local xg = x:to(DEVICE)
    H.close(gpu:forward(xg, labels), cpu:forward(x, labels), tol)
    same_logs(gpu.last_logs, cpu.last_logs, tol)
    close(gpu:backward(xg, labels), cpu:backward(x, labels), tol, "grad_input")
    local params_g = gpu:named_parameters()
    for i, e in ipairs(cpu:named_parameters()) do
      close(params_g[i].module:grad(params_g[i].key), e.module:grad(e.key), tol, "grad of " .. e.name)
    end
  end

  it("TripletLossWithMiner with AllTripletsMiner and with HardTripletsMiner", function()
    check_loss(function()
      return losses.TripletLossWithMiner { margin = 0.2, miner = miners.AllTripletsMiner(), need_logs = true }
    end, 1e-5)
    check_loss(function()
      return losses.TripletLossWithMiner { miner = miners.HardTripletsMiner(), need_logs = true }
    end, 1e-5)
  end)

  it("TripletLossWithMiner with a memory bank (TripletMinerWithMemory)", function()
    local function make()
      return losses.TripletLossWithMiner { margin = 0.1, need_logs = true,
        miner = miners.TripletMinerWithMemory { bank_size_in_batches = 2, tri_expand_k = 3, seed = 11 } }
    end
    local cpu, gpu = make(), make()
    for step = 1, 3 do
      oml.manual_seed(20 + step)
      local x = oml.randn(#labels, 6)
      local xg = x:to(DEVICE)
      H.close(gpu:forward(xg, labels), cpu:forward(x, labels), 1e-5)
      same_logs(gpu.last_logs, cpu.last_logs, 1e-5)
      close(gpu:backward(xg, labels), cpu:backward(x, labels), 1e-5, "grad_input at step " .. step)
    end
  end)

  it("ContrastiveLoss", function()
    check_loss(function() return losses.ContrastiveLoss { neg_margin = 2, need_logs = true } end, 1e-5)
  end)

  it("ArcFaceLoss: the loss's own weight moves with it and gets its gradient", function()
    check_loss(function()
      oml.manual_seed(9)
      return losses.ArcFaceLoss { in_features = 6, num_classes = 4, m = 0.3, s = 8 }
    end, 1e-4)
    check_loss(function()
      oml.manual_seed(9)
      return losses.ArcFaceLoss { in_features = 6, num_classes = 4, s = 8, smoothing_epsilon = 0.1,
                                  label2category = { [0] = "a", "a", "b", "b" } }
    end, 1e-4)
  end)

  it("SurrogatePrecision", function()
    check_loss(function() return losses.SurrogatePrecision { k = 2, temperature2 = 0.1 } end, 1e-4)
  end)

  it("ArcFaceLoss names the devices when features and weight differ", function()
    if DEVICE == "cpu" then return end
    local loss = losses.ArcFaceLoss { in_features = 6, num_classes = 4 }
    H.raises(function() local _ = loss:forward(oml.randn(4, 6):cuda(), { 0, 1, 2, 3 }) end,
      "features are on cuda:0 but the weight is on cpu")
  end)
end)

-- The train pipeline on the tiny dataset of the pipeline specs.
local SIZE = 16

local function train_config(dir, argv)
  local d = train.defaults()
  d.dataset_root = dir .. "/data"
  d.logs_root = dir .. "/logs"
  d.transforms_train = { name = "image_recipe", args = config.open { size = SIZE, hflip = 0.5 } }
  d.transforms_val = { name = "image_recipe", args = config.open { size = SIZE } }
  d.extractor = { name = "resnet", args = config.open {
    arch = { block = "basic", layers = { 1, 1, 1, 1 }, widths = { 4, 4, 8, 8 } }, normalise_features = false } }
  d.sampler.args = { n_labels = 2, n_instances = 2 }
  d.optimizer.args.lr = config.number(1e-2)
  d.max_epochs = 2
  d.num_workers = 1
  d.bs_val = 3
  d.report.n_queries = 0
  return config.from_args(d, argv)
end

local QUIET = { write = function() end, print = function() end }

local function records(run)
  local out = {}
  for line in io.lines(run .. "/metrics.jsonl") do out[#out + 1] = cjson.decode(line) end
  return out
end

gpu_describe("the train pipeline on the device", function()
  local dir
  before_each(function()
    dir = H.tempdir()
    H.write_image_dataset(dir .. "/data", 6, 4, SIZE, 4)   -- labels 0..3 train, 4..5 validate
  end)
  after_each(function() H.sh("rm -rf " .. dir) end)

  it("two epochs with device = \"cuda\" give the CPU run's losses and metrics", function()
    local cpu = train.run(train_config(dir, { "--run_name", "cpu" }), QUIET)
    local gpu = train.run(train_config(dir, { "--run_name", "gpu", "--device", DEVICE }), QUIET)
    local rc, rg = records(cpu.run), records(gpu.run)
    assert.equal(2, #rg)
    for epoch = 1, 2 do
      H.close(rg[epoch].loss, rc[epoch].loss, 1e-4)
      for key, value in pairs(rc[epoch]) do
        if key:match("^OVERALL/") then H.close(rg[epoch][key], value, 1e-6, key) end
      end
    end
    -- the checkpoint holds CPU-readable tensors of the device's weights
    local tensors = oml.load(gpu.last)
    for name, t in pairs(tensors) do assert.equal("cpu", t.device, name) end
  end)

  it("autocast = \"bfloat16\" finishes with finite losses and restores the math mode", function()
    local before = oml.cuda.get_math()
    local result = train.run(train_config(dir, { "--run_name", "bf16", "--device", DEVICE, "--autocast", "bfloat16" }),
                             QUIET)
    for _, r in ipairs(records(result.run)) do
      assert.truthy(r.loss == r.loss and math.abs(r.loss) < math.huge, "loss")
    end
    assert.truthy(result.metrics["OVERALL/cmc/1"] >= 0)
    assert.equal(before, oml.cuda.get_math())
  end)

  it("autocast = \"float16\" trains with loss scaling and saves the scaler's state", function()
    local result = train.run(train_config(dir, { "--run_name", "f16", "--device", DEVICE, "--autocast", "float16" }),
                             QUIET)
    for _, r in ipairs(records(result.run)) do
      assert.truthy(r.loss == r.loss and math.abs(r.loss) < math.huge, "loss")
    end
    local tensors = oml.load(result.last)
    assert.truthy(tensors["scaler.scale"]:item() > 0)
    assert.equal("float32", oml.cuda.get_math())
  end)
end)
