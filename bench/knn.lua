-- bench/knn.lua: the exact k-NN search, 10k queries x 100k gallery x 128-d
-- float32 (standard normal), top 10, on 2 threads, beside FAISS's
-- IndexFlatL2 (Debian's python3-faiss, on OpenBLAS too) on the same vectors
-- in the same run: both read one raw float32 file. Prints both times (best
-- of several runs), the ratio (target: oml at most 0.6x FAISS's time), oml's
-- peak memory, and how far the two agree on the neighbours.
--   luajit bench/knn.lua            (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local ffi = require "ffi"
local oml = require "oml"
local knn = require "oml.retrieval.knn"
local clock = require "clock"

local NQ, NG, D, K, THREADS, RUNS = 10000, 100000, 128, 10, 2, 3
local MB = 2 ^ -20

oml.set_num_threads(THREADS)
oml.manual_seed(0)
local queries, gallery = oml.randn(NQ, D), oml.randn(NG, D)

-- queries then gallery, raw little-endian float32, for FAISS
local data_path, result_path = os.tmpname(), os.tmpname()
local f = assert(io.open(data_path, "wb"))
f:write(ffi.string(queries.data_, NQ * D * 4), ffi.string(gallery.data_, NG * D * 4))
f:close()

oml.empty_cache()
oml.reset_peak_memory()
local before = oml.memory().current
local distances, indices
local t_oml = math.huge
for run = 1, RUNS do
  collectgarbage() -- the last run's results go back to the cache
  local t0 = clock.now()
  local d, i = knn.search(queries, gallery, K)
  t_oml = math.min(t_oml, clock.now() - t0)
  if run == RUNS then distances, indices = d, i end
end
local peak = oml.memory().peak

-- FAISS writes its squared distances (float32) and 0-based indices (int64)
local faiss_out = clock.python(([[
import time, numpy as np, faiss
faiss.omp_set_num_threads(%d)
x = np.fromfile(%q, dtype=np.float32)
xq, xb = x[:%d * %d].reshape(%d, %d), x[%d * %d:].reshape(%d, %d)
index = faiss.IndexFlatL2(%d)
index.add(xb)
best = float("inf")
for _ in range(%d):
    t0 = time.perf_counter()
    D, I = index.search(xq, %d)
    best = min(best, time.perf_counter() - t0)
with open(%q, "wb") as f:
    f.write(D.astype(np.float32).tobytes())
    f.write(I.astype(np.int64).tobytes())
print(best, faiss.__version__)
]]):format(THREADS, data_path, NQ, D, NQ, D, NQ, D, NG, D, D, RUNS, K, result_path))
os.remove(data_path)

print(("exact k-NN: %d queries x %d gallery x %d-d float32, top %d, %d threads, OPENBLAS_CORETYPE=%s"):format(
  NQ, NG, D, K, THREADS, os.getenv("OPENBLAS_CORETYPE") or "(unset)"))
print(("oml.retrieval.knn.search  %7.3f s  (best of %d)"):format(t_oml, RUNS))
print(("  peak memory %.1f MiB: %.1f MiB held before (the inputs), results %.1f MiB, work %.1f MiB"):format(
  peak * MB, before * MB, NQ * K * 12 * MB, (peak - before) * MB - NQ * K * 12 * MB))

if not faiss_out then
  print("FAISS: not available (/usr/bin/python3 -c 'import faiss' fails); no comparison")
  os.remove(result_path)
  return
end
local t_faiss, version = faiss_out:match("(%S+)%s+(%S+)")
t_faiss = tonumber(t_faiss)
print(("FAISS %s IndexFlatL2      %7.3f s  (best of %d)"):format(version, t_faiss, RUNS))
print(("ratio oml / FAISS        %7.2f    (target <= 0.60)"):format(t_oml / t_faiss))

-- Agreement: an index may differ only where the two distances at that rank
-- are equal within float32 rounding (a tie or near-tie that either may break).
local r = assert(io.open(result_path, "rb"))
local bytes = r:read("*a")
r:close()
os.remove(result_path)
local fd = ffi.cast("const float *", bytes)
local fi = ffi.cast("const int64_t *", ffi.cast("const char *", bytes) + NQ * K * 4)
local od, oi = distances:data(), indices:data()
local same, near_tie, differ, worst = 0, 0, 0, 0
for p = 0, NQ * K - 1 do
  local d2 = od[p] * od[p]
  worst = math.max(worst, math.abs(d2 - fd[p]) / fd[p])
  if oi[p] == fi[p] + 1 then
    same = same + 1
  elseif math.abs(d2 - fd[p]) <= 1e-5 * fd[p] then
    near_tie = near_tie + 1
  else
    differ = differ + 1
  end
end
print(("neighbours: %d of %d agree, %d differ at equal distances (ties), %d differ otherwise"):format(same,
  NQ * K, near_tie, differ))
print(("largest relative difference of squared distances: %.2g"):format(worst))
