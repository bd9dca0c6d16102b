-- bench/require.lua: the time of `require "oml"` in a fresh LuaJIT process
-- (the header is parsed by the FFI and liboml.so loaded), beside the time of
-- `import torch` in a fresh Python. Run from the checkout root.
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
local clock = require "clock"

local RUNS = 10

-- each child measures its own require and prints the seconds
local child = [[luajit -e 'package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.path = "bench/?.lua;" .. package.path
local clock = require "clock"
local t0 = clock.now()
require "oml"
io.write(clock.now() - t0)']]

local times = {}
for i = 1, RUNS do
  local p = io.popen(child)
  times[i] = tonumber(p:read("*a"))
  p:close()
end
table.sort(times)
local median = times[math.ceil(RUNS / 2)]

local torch = clock.python([[
import time
t0 = time.perf_counter()
import torch
print(time.perf_counter() - t0)
]])

print(("require \"oml\": median of %d fresh processes: %.1f ms (best %.1f ms)"):format(RUNS, median * 1e3,
  times[1] * 1e3))
if torch then
  local t = tonumber(torch)
  print(("import torch (one fresh process): %.0f ms, %.0fx longer"):format(t * 1e3, t / median))
end
