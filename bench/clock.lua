-- bench/clock.lua: a monotonic clock and a best-of-n timer for the benchmarks.
local ffi = require "ffi"

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]

local ts = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local M = {}

function M.now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- The best time of `runs` calls of fn, in seconds.
function M.best(runs, fn)
  local best = math.huge
  for _ = 1, runs do
    local t0 = M.now()
    fn()
    best = math.min(best, M.now() - t0)
  end
  return best
end

-- Runs a Python snippet with Debian's python3 (PyTorch as a peer) and
-- returns its stdout, or nil when python3 or torch is missing.
function M.python(code)
  local f = io.open("/usr/bin/python3")
  if not f then return nil end
  f:close()
  local path = os.tmpname()
  local out = assert(io.open(path, "w"))
  out:write(code)
  out:close()
  local p = io.popen("/usr/bin/python3 " .. path .. " 2>/dev/null")
  local text = p:read("*a")
  p:close()
  os.remove(path)
  return text ~= "" and text or nil
end

return M
