-- bench/gpu.lua: oml on one GPU beside PyTorch on the same card, in the same
-- run (bench/gpu_peer.py, models from bench/torch_models.py):
--   training steps (forward, backward of mean(y^2), SGD with momentum) of
--   ViT-S/16 and ResNet-50 at batch 128, 224x224;
--   embedding extraction (inference) at batch 256;
--   both in float32 (exact: no TF32 on either side) and in bfloat16
--   (oml.cuda.set_math("bfloat16"); PyTorch's autocast);
--   the exact k-NN of 100k queries among 1M gallery vectors, 384-d float32,
--   k = 10 (oml.retrieval.knn.search on device tensors; PyTorch: blocked
--   matmul + topk; FAISS's GpuIndexFlatL2 too when faiss is importable), and
--   how far the two agree on the neighbours.
-- Each case: warm-up, then the median of several synchronised runs, and the
-- peak device memory (oml.memory("cuda").peak, torch.cuda.max_memory_allocated).
-- A failing case prints its error and the others still run; the exit status
-- is 1 when any failed. Run by bench/gpu.sh on a lent GPU machine:
--   luajit bench/gpu.lua [--small]        (from the checkout root; --small: tiny sizes, a quick check)
-- OML_GPU_PEER is the command that runs python3 with PyTorch (empty: oml alone).
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local ffi = require "ffi"
local oml = require "oml"
local knn = require "oml.retrieval.knn"
local clock = require "clock"
local cjson = require "cjson"

local SMALL = arg[1] == "--small"
local SIZES = SMALL and { train = 4, embed = 8, nq = 1000, ng = 20000 }
  or { train = 128, embed = 256, nq = 100000, ng = 1000000 }
local D, K = 384, 10
local MAX_RUNS, MIN_RUNS, CASE_SECONDS = 5, 2, 8 -- timed runs: up to MAX_RUNS within about CASE_SECONDS
-- seconds for oml's cases and for both sides: later cases are skipped, so that the table prints within
-- bench/gpu.sh's limit (240 s) even when a case is slow
local OML_BUDGET, TOTAL_BUDGET = 110, 200
local GIB = 2 ^ -30

local function fail_early(msg)
  io.stderr:write("bench/gpu.lua: ", msg, "\n")
  os.exit(1)
end
if not oml.cuda.is_compiled() then
  fail_early("no CUDA device: liboml.so was built without the CUDA backend (" .. require("oml.capi").library .. ")")
end
if not oml.cuda.is_available() then
  fail_early("no CUDA device here (oml.cuda.device_count() == 0); run it on a GPU machine: bash bench/gpu.sh")
end

-- One list of cases for both sides; the peer gets it on its command line.
local CASES = {
  { kind = "train", model = "vits16", math = "float32", batch = SIZES.train },
  { kind = "train", model = "vits16", math = "bfloat16", batch = SIZES.train },
  { kind = "train", model = "resnet50", math = "float32", batch = SIZES.train },
  { kind = "train", model = "resnet50", math = "bfloat16", batch = SIZES.train },
  { kind = "knn", model = "-", math = "float32", batch = SIZES.nq },
  { kind = "embed", model = "vits16", math = "float32", batch = SIZES.embed },
  { kind = "embed", model = "vits16", math = "bfloat16", batch = SIZES.embed },
  { kind = "embed", model = "resnet50", math = "float32", batch = SIZES.embed },
  { kind = "embed", model = "resnet50", math = "bfloat16", batch = SIZES.embed },
}
for _, c in ipairs(CASES) do c.name = ("%s:%s:%s:%d"):format(c.kind, c.model, c.math, c.batch) end

-- Median of synchronised runs after a warm-up (two where a step is fast: the
-- first pays for set-ups); the second warm-up's time sets how many runs fit.
local function median_time(step)
  local function timed()
    local t0 = clock.now()
    step()
    oml.cuda.synchronize()
    return clock.now() - t0
  end
  oml.cuda.synchronize()
  local warm = timed()
  if warm < 2 then warm = timed() end
  local runs = math.max(MIN_RUNS, math.min(MAX_RUNS, math.floor(CASE_SECONDS / warm)))
  local times = {}
  for i = 1, runs do times[i] = timed() end
  table.sort(times)
  local mid = math.floor((runs + 1) / 2)
  return runs % 2 == 1 and times[mid] or (times[mid] + times[mid + 1]) / 2, runs
end

-- Standard normal values made on the device (oml's CUDA Philox), or on the CPU where that fails.
local function device_randn(...)
  local ok, t = pcall(oml.randn, { ... }, { device = "cuda" })
  if ok then return t end
  return oml.randn(...):cuda()
end

local function build_model(name)
  oml.manual_seed(0)
  local model = name == "vits16" and oml.models.ViTExtractor { arch = "vits16", normalise_features = false }
    or oml.models.ResnetExtractor { arch = "resnet50" } -- the 2048-d pooled features, as OML extracts them
  model.input_grad = false -- as PyTorch, no gradient for the images
  return model:cuda()
end

local function model_step(c)
  local model = build_model(c.model)
  local x = device_randn(c.batch, 3, 224, 224)
  if c.kind == "embed" then
    model:evaluate()
    return function() model:forward(x) end
  end
  local opt = oml.optim.SGD { params = model, lr = 0.01, momentum = 0.9 }
  return function()
    opt:zero_grad()
    local y = model:forward(x)
    model:backward(x, y * (2 / y:numel())) -- d mean(y^2) / dy
    opt:step()
  end
end

-- ---- the k-NN data: made here, written raw (queries then gallery, float32) for the peer
local knn_data_path, knn_peer_out = os.tmpname(), os.tmpname()
local knn_indices -- oml's [nq, k] int64 (1-based), for the agreement

if not pcall(function() return ffi.C.fopen end) then
  ffi.cdef [[
void *fopen(const char *path, const char *mode);
size_t fwrite(const void *p, size_t size, size_t n, void *f);
size_t fread(void *p, size_t size, size_t n, void *f);
int fclose(void *f);
]]
end

local function raw_io(path, mode, fn, t)
  local f = ffi.C.fopen(path, mode)
  if f == nil then error("cannot open " .. path) end
  local bytes = t:numel() * t:element_size()
  local done = fn(t.data_, 1, bytes, f)
  ffi.C.fclose(f)
  if done ~= bytes then error(("%s: %d of %d bytes"):format(path, tonumber(done), bytes)) end
end

local function knn_step(c)
  oml.manual_seed(0)
  local data_gpu = device_randn(c.batch + SIZES.ng, D)
  raw_io(knn_data_path, "wb", ffi.C.fwrite, data_gpu:cpu())
  collectgarbage() -- the CPU copy
  local queries, gallery = data_gpu:narrow(1, 1, c.batch), data_gpu:narrow(1, c.batch + 1, SIZES.ng)
  return function()
    local _, indices = knn.search(queries, gallery, K)
    knn_indices = indices
  end
end

-- Runs one case: seconds (median), runs, peak device bytes.
local function run_case(c)
  collectgarbage()
  collectgarbage()
  oml.empty_cache()
  oml.cuda.set_math(c.math)
  local step = c.kind == "knn" and knn_step(c) or model_step(c)
  oml.cuda.synchronize()
  oml.reset_peak_memory("cuda")
  local seconds, runs = median_time(step)
  return seconds, runs, oml.memory("cuda").peak
end

-- ---- oml's side
local started = clock.now()
local results = {} -- name -> {oml = {seconds, runs, peak} or {error}, torch = ..., faiss = ...}
local failed = 0 -- cases that failed on either side
print(("oml: %d cases%s; per case a warm-up, then the median of %d..%d synchronised runs"):format(#CASES,
  SMALL and " (--small)" or "", MIN_RUNS, MAX_RUNS))
for _, c in ipairs(CASES) do
  results[c.name] = {}
  if clock.now() - started > OML_BUDGET then
    results[c.name].oml = { error = "skipped: oml's time budget is spent" }
  else
    local ok, seconds, runs, peak = xpcall(run_case, debug.traceback, c)
    if ok then
      results[c.name].oml = { seconds = seconds, runs = runs, peak = peak }
      print(("  %-30s %8.4f s  (%d runs)  peak %6.2f GiB"):format(c.name, seconds, runs, peak * GIB))
    else
      results[c.name].oml = { error = tostring(seconds) }
      print(("  %-30s FAILED: %s"):format(c.name, tostring(seconds):match("^[^\n]*")))
    end
  end
  pcall(oml.cuda.set_math, "float32")
end
collectgarbage()
collectgarbage()
oml.empty_cache() -- the peer gets the card's memory

-- ---- the peer: one "RESULT {json}" line per case on stdout; its stderr goes to the log
local peer = os.getenv("OML_GPU_PEER")
if peer == nil then peer = "python3" end
if peer ~= "" then
  local names = {}
  for i, c in ipairs(CASES) do names[i] = c.name end
  local budget = math.max(45, TOTAL_BUDGET - (clock.now() - started))
  local cmd = ("%s bench/gpu_peer.py --cases %s --knn-data %s --knn-out %s --knn-gallery %d --budget %d"):format(
    peer, table.concat(names, ","), knn_data_path, knn_peer_out, SIZES.ng, budget)
  print("\npeer: " .. cmd)
  io.stdout:flush()
  local p = io.popen(cmd)
  for line in p:lines() do
    local json = line:match("^RESULT (.*)$")
    if json then
      local r = cjson.decode(json)
      local side = r.side or "torch"
      results[r.case] = results[r.case] or {}
      results[r.case][side] = r
      if r.seconds then
        print(("  %-6s %-30s %8.4f s  (%d runs)%s"):format(side, r.case, r.seconds, r.runs,
          r.peak and ("  peak %6.2f GiB"):format(r.peak * GIB) or ""))
      else
        print(("  %-6s %-30s %s"):format(side, r.case, r.error:match("^skipped") and r.error or "FAILED"))
      end
    else
      print("  " .. line)
    end
  end
  p:close()
  for _, c in ipairs(CASES) do
    if results[c.name].torch == nil then -- the peer stopped early: its error is above
      results[c.name].torch = { error = "no result from the peer (see its output above)" }
    end
  end
else
  print("\nno PyTorch peer (OML_GPU_PEER is empty): oml's figures alone")
end

-- ---- k-NN agreement: the share of oml's neighbours (per query, any rank) in PyTorch's top k
local agreement
local knn_torch
for _, c in ipairs(CASES) do
  if c.kind == "knn" then knn_torch = results[c.name].torch end
end
if knn_indices and knn_torch and knn_torch.seconds then
  local ok, err = pcall(function()
    local theirs = oml.zeros({ SIZES.nq, K }, "int64")
    raw_io(knn_peer_out, "rb", ffi.C.fread, theirs)
    local mine = knn_indices:cpu():contiguous() -- held while its pointer is read
    local a, b = mine:data(), theirs:data()
    local same = 0
    for q = 0, SIZES.nq - 1 do
      for i = 0, K - 1 do
        local want = a[q * K + i] - 1
        for j = 0, K - 1 do
          if b[q * K + j] == want then
            same = same + 1
            break
          end
        end
      end
    end
    agreement = same / (SIZES.nq * K)
  end)
  if not ok then print("k-NN agreement: not measured (" .. tostring(err) .. ")") end
end
os.remove(knn_data_path)
os.remove(knn_peer_out)

-- ---- the table
local function cell(r, items)
  if r == nil then return ("%-21s"):format("-") end
  if r.error then return ("%-21s"):format(r.error:match("^skipped") and "skipped" or "FAILED") end
  return ("%8.4f s %9.1f/s"):format(r.seconds, items / r.seconds)
end
local function mem(r)
  return (r and r.peak and r.peak > 0) and ("%7.2f"):format(r.peak * GIB) or ("%7s"):format("-")
end
local function ratio(a, b, key)
  if a and b and a[key] and b[key] and b[key] > 0 then return ("%6.2f"):format(a[key] / b[key]) end
  return ("%6s"):format("-")
end

print(("\noml vs PyTorch on one GPU, same run%s; time ratio = oml's time / PyTorch's (below 1: oml faster)")
  :format(SMALL and " (--small sizes)" or ""))
print(("%-32s | %-21s | %-21s | %6s | %7s | %7s | %6s"):format("case (kind:model:math:batch)", "oml median (items/s)",
  "PyTorch median", "time", "oml GiB", "pt GiB", "memory"))
print(("-"):rep(119))
for _, c in ipairs(CASES) do
  local r = results[c.name]
  print(("%-32s | %s | %s | %s | %s | %s | %s"):format(c.name, cell(r.oml, c.batch), cell(r.torch, c.batch),
    ratio(r.oml, r.torch, "seconds"), mem(r.oml), mem(r.torch), ratio(r.oml, r.torch, "peak")))
  if r.faiss then
    print(("%-32s | %-21s | %s | %s |"):format("  FAISS GpuIndexFlatL2", "", cell(r.faiss, c.batch),
      ratio(r.oml, r.faiss, "seconds")))
  end
end
print("items: images for train/embed, queries for knn; peak device memory in GiB (memory ratio: oml / PyTorch)")
if agreement then print(("k-NN agreement: %.4f of oml's neighbours are in PyTorch's top %d"):format(agreement, K)) end
local first_with = {} -- error text -> the first case that printed it
for _, c in ipairs(CASES) do
  for _, side in ipairs { "oml", "torch", "faiss" } do
    local r = results[c.name][side]
    if r and r.error and not r.error:match("^skipped") then
      failed = failed + 1
      local same = first_with[r.error]
      print(("\n%s (%s) failed:%s"):format(c.name, side, same and (" as " .. same) or ("\n" .. r.error)))
      first_with[r.error] = same or ("%s (%s)"):format(c.name, side)
    end
  end
end

local out = os.getenv("OUT")
if out and out ~= "" then
  local f = io.open(out .. "/gpu_results.json", "w")
  if f then
    f:write(cjson.encode { small = SMALL, cases = CASES, results = results, knn_agreement = agreement }, "\n")
    f:close()
  end
end
print(("\n%.0f s in all"):format(clock.now() - started))
if failed > 0 then print(("%d failure(s)"):format(failed)) end
os.exit(failed == 0 and 0 or 1)
