-- bench/nn.lua: issue 3's benchmark, beside PyTorch (Debian's python3-torch,
-- models re-typed in bench/torch_models.py) in the same run, 2 threads each:
-- one training step (forward, backward of mean(y^2), SGD with momentum) of
-- ResNet-18 at batch 32 and ViT-S/16 at batch 8, and inference images/s at
-- batch 64, all at 224x224; and each configuration's peak resident memory,
-- measured in a process of its own. PyTorch runs plain, with tcmalloc
-- preloaded (Debian's libtcmalloc-minimal4), and with tcmalloc and shorter
-- OpenMP spinning, which help it here; the ratios are against its best.
--   luajit bench/nn.lua              (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local ffi = require "ffi"
local clock = require "clock"

local RUNS = 3
-- oml's time / PyTorch's best time, at most
local TARGETS = { train = { resnet18 = 0.8, vits16 = 0.5 }, infer = { resnet18 = 1 / 1.5, vits16 = 1 / 1.5 } }
local TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
local CONFIGS = {
  { model = "resnet18", mode = "train", batch = 32 },
  { model = "vits16", mode = "train", batch = 8 },
  { model = "resnet18", mode = "infer", batch = 64 },
  { model = "vits16", mode = "infer", batch = 64 },
}

ffi.cdef [[
typedef struct { long sec, usec; } bench_timeval;
typedef struct { bench_timeval utime, stime; long maxrss, rest[14]; } bench_rusage;
int getrusage(int who, bench_rusage *usage);
]]

-- One configuration, run in this process: prints "seconds maxrss_bytes".
local function run_oml(model_name, mode, batch)
  local oml = require "oml"
  oml.set_num_threads(2)
  oml.manual_seed(0)
  local model = model_name == "resnet18"
    and oml.models.ResnetExtractor { arch = "resnet18", remove_fc = false }
    or oml.models.ViTExtractor { arch = "vits16", normalise_features = false }
  model.input_grad = false -- as PyTorch, no gradient for the images
  local x = oml.randn(batch, 3, 224, 224)
  local step
  if mode == "train" then
    local opt = oml.optim.SGD { params = model, lr = 0.01, momentum = 0.9 }
    step = function()
      opt:zero_grad()
      local y = model:forward(x)
      model:backward(x, y * (2 / tonumber(y.numel_)))   -- d mean(y^2) / dy
      opt:step()
    end
  else
    model:evaluate()
    step = function() model:forward(x) end
  end
  step()
  local best = clock.best(RUNS, step)
  local usage = ffi.new("bench_rusage")
  ffi.C.getrusage(0, usage)
  print(best, tonumber(usage.maxrss) * 1024)
end

if arg[1] == "--one" then return run_oml(arg[2], arg[3], tonumber(arg[4])) end

local function measure(command)
  local p = io.popen(command .. " 2>/dev/null")
  local text = p:read("*a")
  p:close()
  local seconds, rss = text:match("([%d.e+-]+)%s+([%d.e+-]+)%s*$")
  return tonumber(seconds), tonumber(rss)
end

-- PyTorch four ways: as it is, with tcmalloc, and with tcmalloc and short
-- OpenMP spinning (what oml sets for itself, see lua/oml/capi.lua) or none
local PEERS = {
  { label = "torch", env = "" },
  { label = "+tcmalloc", env = "LD_PRELOAD=" .. TCMALLOC .. " " },
  { label = "+spin 1e4", env = "LD_PRELOAD=" .. TCMALLOC .. " GOMP_SPINCOUNT=10000 " },
  { label = "+passive", env = "LD_PRELOAD=" .. TCMALLOC .. " OMP_WAIT_POLICY=PASSIVE " },
}
local have_torch = clock.python("import torch; print(1)") ~= nil
local best_times = {} -- PyTorch's best time of each configuration
local have_tcmalloc = io.open(TCMALLOC) ~= nil
local MB = 2 ^ -20
local header = ("%-9s %-5s %5s | %-20s"):format("model", "mode", "batch", "oml s (img/s) MB")
for _, p in ipairs(PEERS) do header = header .. (" | %-20s"):format(p.label .. " s (img/s) MB") end
print(header .. " | time  | memory")
for _, c in ipairs(CONFIGS) do
  local args = ("%s %s %d"):format(c.model, c.mode, c.batch)
  local function cell(t, m)
    if t == nil then return ("%-20s"):format("-") end
    return ("%6.3f (%5.1f) %5.0f"):format(t, c.batch / t, m * MB)
  end
  local t_oml, m_oml = measure("luajit bench/nn.lua --one " .. args)
  local line = ("%-9s %-5s %5d | %s"):format(c.model, c.mode, c.batch, cell(t_oml, m_oml))
  local best_t, best_m
  for i, p in ipairs(PEERS) do
    local t, m
    if have_torch and (i == 1 or have_tcmalloc) then
      t, m = measure(("%s/usr/bin/python3 bench/nn_peer.py %s %d"):format(p.env, args, RUNS))
    end
    if t and (best_t == nil or t < best_t) then best_t, best_m = t, m end
    line = line .. " | " .. cell(t, m)
  end
  best_times[c.model .. c.mode] = best_t
  print(line .. (" | %5s | %5s"):format(best_t and ("%.2f"):format(t_oml / best_t) or "-",
    best_m and ("%.2f"):format(m_oml / best_m) or "-"))
end
print(("time: oml's time / PyTorch's best (targets: train ResNet-18 <= %.2f, ViT-S/16 <= %.2f; inference <= %.2f)")
  :format(TARGETS.train.resnet18, TARGETS.train.vits16, TARGETS.infer.resnet18))
print("memory: oml's peak RSS / that of PyTorch's fastest run (target <= 1)")

-- What the targets ask of the CPU: each model's floating-point operations
-- (multiply-adds x 2, as a dense convolution or product counts them; the
-- training step is 3x the forward, less the images' gradient), the rate a
-- step at the target time would need, and the rate of oml's fastest
-- product here (a 2048^3 float32 GEMM on the same 2 threads), which no
-- model reaches, since everything between its products runs slower.
local function resnet18_forward_flops()
  local macs, size, inplanes = 112 * 112 * 64 * 3 * 49, 56, 64 -- the 7x7 stem at stride 2, then a pool
  for stage, planes in ipairs { 64, 128, 256, 512 } do
    if stage > 1 then size = size / 2 end
    local area = size * size
    macs = macs + area * planes * inplanes * 9 + 3 * area * planes * planes * 9
    if inplanes ~= planes then macs = macs + area * planes * inplanes end -- the 1x1 downsample
    inplanes = planes
  end
  return 2 * (macs + 512 * 1000), 2 * 112 * 112 * 64 * 3 * 49
end
local function vits16_forward_flops()
  local n, d, patches = 197, 384, 196
  local block = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * 4 * d
  local stem = 2 * patches * 768 * d
  return stem + 12 * block, stem
end
do
  local oml = require "oml"
  oml.set_num_threads(2)
  local a, b = oml.randn(2048, 2048), oml.randn(2048, 2048)
  oml.matmul(a, b)
  local gemm = 2 * 2048 ^ 3 / clock.best(RUNS, function() oml.matmul(a, b) end) / 1e9
  print(("\noml's 2048^3 float32 GEMM: %.0f GFLOP/s"):format(gemm))
  for _, c in ipairs(CONFIGS) do
    local f, stem = (c.model == "resnet18" and resnet18_forward_flops or vits16_forward_flops)()
    local flops = c.batch * (c.mode == "train" and 3 * f - stem or f)
    local peer = best_times[c.model .. c.mode]
    if peer then
      local need = flops / (TARGETS[c.mode][c.model] * peer) / 1e9
      print(("%-9s %-5s %6.0f GFLOP: at the target time it needs %4.0f GFLOP/s (%.2fx the GEMM's)%s"):format(
        c.model, c.mode, flops / 1e9, need, need / gemm,
        c.model == "resnet18" and "; Winograd's 3x3 convolutions do fewer operations" or ""))
    end
  end
end
