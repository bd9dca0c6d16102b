-- bench/gemm.lua: GFLOP/s of oml.mm on float32 n x n matrices beside a
-- direct cblas_sgemm call through the FFI on the same data (the peer), best
-- of several runs each, and the ratio. The second pair times the
-- transposed-view path, oml.mm(a, b:t()), against cblas_sgemm with
-- CblasTrans: equal speeds mean the view reached BLAS without a copy. oml
-- keeps OpenBLAS on one thread and cuts a large product over its OpenMP
-- threads; the peer runs OpenBLAS on its own threads, as a plain caller does.
--   luajit bench/gemm.lua            (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local ffi = require "ffi"
local oml = require "oml"
local now = require("clock").now

ffi.cdef [[
void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
]]
local blas = ffi.load("openblas")
local ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
local THREADS = oml.get_num_threads()

-- cblas_sgemm on OpenBLAS's own threads (oml set it to one)
local function sgemm(...)
  blas.openblas_set_num_threads(THREADS)
  blas.cblas_sgemm(...)
  blas.openblas_set_num_threads(1)
end

-- The best wall times of the functions in fns over `runs` rounds, after
-- one warm-up round. Each round runs every function once, in turn, so that
-- a burst of load from elsewhere hits oml and its peer alike. The collector
-- runs before each (untimed) so that the last result's block goes back to
-- the engine's cache: oml.mm then writes warm memory, as the peer does, and
-- the table shows the engine's overhead rather than page faults.
local function best(runs, fns)
  local times = {}
  for i, fn in ipairs(fns) do
    fn()
    times[i] = math.huge
  end
  for _ = 1, runs do
    for i, fn in ipairs(fns) do
      collectgarbage()
      local start = now()
      fn()
      times[i] = math.min(times[i], now() - start)
    end
  end
  return unpack(times)
end

-- An n x n float32 matrix of values in [-1, 1].
local function matrix(n, seed)
  local m = oml.empty(n, n)
  local p = m:data()
  for i = 0, n * n - 1 do p[i] = math.sin(seed + i * 0.618) end
  return m
end

local RUNS = { [256] = 200, [1024] = 10, [2048] = 5 }

print(("threads: %d, OPENBLAS_CORETYPE=%s"):format(require("oml.tensor").C.oml_get_num_threads(),
  os.getenv("OPENBLAS_CORETYPE") or "(unset)"))
print("GFLOP/s, best of several runs (float32, n x n)")
print(("%6s | %10s %12s %6s | %12s %12s %6s"):format("n", "oml.mm", "cblas_sgemm", "ratio",
  "mm(a, b:t())", "sgemm(N, T)", "ratio"))
for _, n in ipairs { 256, 1024, 2048 } do
  local a, b = matrix(n, 1), matrix(n, 2)
  local c = oml.empty(n, n)
  local pa, pb, pc = a:data(), b:data(), c:data()
  local bt = b:t()
  local flops = 2 * n ^ 3
  local t_oml, t_blas, t_oml_t, t_blas_t = best(RUNS[n], {
    function() return oml.mm(a, b) end,
    function() sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, n, n, n, 1, pa, n, pb, n, 0, pc, n) end,
    function() return oml.mm(a, bt) end,
    function() sgemm(ROW_MAJOR, NO_TRANS, TRANS, n, n, n, 1, pa, n, pb, n, 0, pc, n) end,
  })
  local g = function(t) return flops / t * 1e-9 end
  print(("%6d | %10.1f %12.1f %6.2f | %12.1f %12.1f %6.2f"):format(n, g(t_oml), g(t_blas), t_blas / t_oml,
    g(t_oml_t), g(t_blas_t), t_blas_t / t_oml_t))
end
print("ratio = oml speed / cblas speed (1.00 = no overhead)")
