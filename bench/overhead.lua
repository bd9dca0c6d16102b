-- bench/overhead.lua: the cost of a tiny op (one-element tensors), where the
-- time is all call overhead: argument checks, the FFI call, the output's
-- allocation and its collection. PyTorch's figure on the same machine beside it.
-- Run from the checkout root: luajit bench/overhead.lua
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
local oml = require "oml"
local clock = require "clock"

local N = 1e6
local a, b = oml.ones(1), oml.ones(1)

local function per_op(fn)
  return clock.best(5, function() for _ = 1, N do fn() end end) / N * 1e6
end

local rows = {
  { "a + b (new output)", per_op(function() local _ = a + b end) },
  { "a:add_(b) (in place)", per_op(function() a:add_(b) end) },
  { "a:exp()", per_op(function() local _ = a:exp() end) },
  { "a:view(1, 1)", per_op(function() local _ = a:view(1, 1) end) },
}

local torch = clock.python(([[
import time, torch
torch.set_num_threads(1)
a, b = torch.ones(1), torch.ones(1)
def per_op(f, n=%d):
    t = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n): f()
        t = min(t, time.perf_counter() - t0)
    return t / n * 1e6
print(per_op(lambda: a + b), per_op(lambda: a.add_(b)), per_op(lambda: a.exp()), per_op(lambda: a.view(1, 1)))
]]):format(N / 10))
local peer = {}
if torch then for v in torch:gmatch("%S+") do peer[#peer + 1] = tonumber(v) end end

print(("tiny-op overhead, one-element float32 tensors, best of 5 x %.0e calls"):format(N))
print(("%-22s %10s %12s %10s"):format("op", "oml us", "torch us", "torch/oml"))
for i, r in ipairs(rows) do
  local p = peer[i]
  print(("%-22s %10.3f %12s %10s"):format(r[1], r[2], p and ("%.3f"):format(p) or "-",
    p and ("%.1fx"):format(p / r[2]) or "-"))
end
