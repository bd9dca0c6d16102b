-- oml.ops.system: threads, memory and devices.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local functions = {}

-- One thread count for OpenMP loops and OpenBLAS.
function functions.set_num_threads(n)
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) or n >= 2 ^ 31 then
    T.raise("oml.set_num_threads", "n must be a positive integer (got %s)", T.show(n))
  end
  C.oml_set_num_threads(n)
end

function functions.get_num_threads() return C.oml_get_num_threads() end

local stats = ffi.new("oml_memory_stats")

-- oml.memory([device]) -> {current=, peak=, cached=, allocations=, cache_hits=}
-- in bytes (counts for the last two) for the CPU or a cuda device.
function functions.memory(device)
  T.check(C.oml_memory_stats_get(T.device(device, "oml.memory"), stats), "oml.memory")
  return {
    current = tonumber(stats.current), peak = tonumber(stats.peak), cached = tonumber(stats.cached),
    allocations = tonumber(stats.allocations), cache_hits = tonumber(stats.cache_hits),
  }
end

function functions.reset_peak_memory(device)
  C.oml_memory_reset_peak(T.device(device, "oml.reset_peak_memory"))
end

-- Collects unreachable tensors, then returns cached blocks to the system.
function functions.empty_cache()
  collectgarbage()
  collectgarbage()
  C.oml_memory_empty_cache()
end

-- oml.set_printoptions{precision=, threshold=, edgeitems=, linewidth=}
functions.set_printoptions = require("oml.print").set_printoptions

functions.cuda = {
  -- built with the CUDA backend
  is_compiled = function() return C.oml_cuda_compiled() == 1 end,
  -- and a GPU is present
  is_available = function() return C.oml_cuda_device_count() > 0 end,
  device_count = function() return C.oml_cuda_device_count() end,
}

-- Waits for the device's queued work; a fault inside a kernel is reported here.
function functions.cuda.synchronize(device)
  T.check(C.oml_cuda_synchronize(T.device(device or "cuda", "oml.cuda.synchronize")), "oml.cuda.synchronize")
end

-- How CUDA GEMMs and convolutions treat float32 operands: "float32" (exact),
-- "tf32" (tensor cores), "bfloat16" or "float16" (operands rounded, float32
-- accumulation and results: the train config's autocast).
local MATH_MODES = { float32 = 0, tf32 = 1, bfloat16 = 2, float16 = 3 }
local MATH_NAMES = { [0] = "float32", "tf32", "bfloat16", "float16" }

function functions.cuda.set_math(mode)
  local m = MATH_MODES[mode]
  if m == nil then
    T.raise("oml.cuda.set_math", "unknown mode %s (use \"float32\", \"tf32\", \"bfloat16\" or \"float16\")",
      T.show(mode))
  end
  T.check(C.oml_cuda_set_math(m), "oml.cuda.set_math")
end

function functions.cuda.get_math() return MATH_NAMES[C.oml_cuda_get_math()] end

-- oml.cuda.libraries() -> {cublas = true | "why not", cudnn = ...}: whether
-- CUDA's libraries load (they are loaded when first needed).
function functions.cuda.libraries()
  local found = {}
  for name, which in pairs { cublas = C.OML_CUBLAS, cudnn = C.OML_CUDNN } do
    local err = C.oml_cuda_library_error(which)
    found[name] = err == nil or ffi.string(err)
  end
  return found
end

return { functions = functions }
