-- bench/elementwise.lua: add, mul and exp on 1e7 float32 values in GB/s,
-- beside memcpy (the memory bandwidth ceiling) and PyTorch in the same run.
-- Run from the checkout root: luajit bench/elementwise.lua
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
local ffi = require "ffi"
local oml = require "oml"
local clock = require "clock"

local N, RUNS = 1e7, 10
local MB = N * 4 / 1e9 -- gigabytes per float32 operand

local a, b = oml.rand(N), oml.rand(N)
local out = oml.empty(N)

local function gbs(seconds, operands) return operands * MB / seconds end

ffi.cdef "void *memcpy(void *dst, const void *src, size_t n);"
local function timed(fn) return clock.best(RUNS, fn) end

-- memcpy is libc's on one thread: the memory-bandwidth reference. oml's ops
-- run on every thread; "new output" ops allocate their result each call.
local memcpy_s = timed(function() ffi.C.memcpy(out.data_, a.data_, N * 4) end)
local rows = {
  { "memcpy (1 thread)", gbs(memcpy_s, 2) },
  { "copy_ into out", gbs(timed(function() out:copy(a) end), 2) },
  { "add (new output)", gbs(timed(function() local _ = a + b end), 3) },
  { "add_ (in place)", gbs(timed(function() out:add_(b) end), 3) },
  { "mul (new output)", gbs(timed(function() local _ = a * b end), 3) },
  { "exp (new output)", gbs(timed(function() local _ = a:exp() end), 2) },
}

local torch = clock.python(([[
import time, torch
torch.set_num_threads(%d)
a, b, out = torch.rand(%d), torch.rand(%d), torch.empty(%d)
def best(f):
    t = float("inf")
    for _ in range(%d):
        t0 = time.perf_counter(); f(); t = min(t, time.perf_counter() - t0)
    return t
print(best(lambda: out.copy_(a)), best(lambda: a + b), best(lambda: out.add_(b)), best(lambda: a * b),
      best(lambda: a.exp()))
]]):format(oml.get_num_threads(), N, N, N, RUNS))
local peer = {}
if torch then
  local moved = { 2, 3, 3, 3, 2 }
  local i = 0
  for v in torch:gmatch("%S+") do
    i = i + 1
    peer[i + 1] = gbs(tonumber(v), moved[i])
  end
end

print(("elementwise on %.0e float32, %d threads, best of %d; GB/s counts inputs read + output written"):format(
  N, oml.get_num_threads(), RUNS))
print(("%-18s %10s %10s %12s %10s"):format("op", "oml GB/s", "% memcpy", "torch GB/s", "oml/torch"))
for i, r in ipairs(rows) do
  local p = peer[i]
  print(("%-18s %10.1f %9.0f%% %12s %10s"):format(r[1], r[2], 100 * r[2] / rows[1][2],
    p and ("%.1f"):format(p) or "-", p and ("%.2f"):format(r[2] / p) or "-"))
end
