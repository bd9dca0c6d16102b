-- spec/gpu_helper.lua: the #gpu specs' parity check. Each op runs on the CPU
-- and on cuda:0 from the same inputs, and the results must agree: the CPU
-- kernels are checked against PyTorch and finite differences elsewhere, so
-- agreement with them is what a GPU result is checked against.
local oml = require "oml"
local H = require "helper"

local G = {}

G.available = oml.cuda.is_available()
-- where G.same runs the second time; a spec's logic can be dry-run without a
-- GPU by setting G.available = true and G.device = "cpu"
G.device = "cuda"

-- describe(name .. " #gpu", body), or one pending spec where no GPU is present.
-- busted's describe/it/pending live in the calling spec file's environment.
function G.describe(name, body)
  local env = getfenv(2)
  local describe, pending = env.describe, env.pending
  describe(name .. " #gpu", function()
    if not G.available then
      pending("need a GPU: no CUDA device here")
      return
    end
    body()
  end)
end

-- Copies every tensor in a (nested) table to the device; other values stay.
local function to_device(v, device)
  if oml.is_tensor(v) then return v:to { device = device } end
  if type(v) ~= "table" or getmetatable(v) ~= nil then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = to_device(x, device) end
  return out
end
G.to_device = to_device

-- Compares a GPU result with the CPU's: tensors (same dtype and shape, values
-- within tol), numbers, and tables of them.
local function compare(gpu, cpu, tol, path)
  if oml.is_tensor(cpu) then
    assert(oml.is_tensor(gpu), path .. ": expected a tensor")
    assert((gpu.device == "cpu") == (G.device == "cpu"), path .. ": the result is on " .. gpu.device)
    assert(gpu.dtype == cpu.dtype, ("%s: dtype %s, expected %s"):format(path, gpu.dtype, cpu.dtype))
    local gs, cs = table.concat(gpu:size(), "x"), table.concat(cpu:size(), "x")
    assert(gs == cs, ("%s: shape %s, expected %s"):format(path, gs, cs))
    H.close(gpu:cpu(), cpu, tol, path)
  elseif type(cpu) == "table" and getmetatable(cpu) == nil then
    for k, x in pairs(cpu) do compare(gpu[k], x, tol, path .. "." .. tostring(k)) end
  else
    H.close(gpu, cpu, tol, path)
  end
end

-- Runs fn(args...) with CPU tensors and with their G.device copies, and checks
-- that every result agrees within tol (default 1e-5; float64 ops can ask
-- for 1e-12). Returns the CPU results.
function G.same(fn, args, tol)
  local cpu = { fn(unpack(args)) }
  local gpu = { fn(unpack(to_device(args, G.device))) }
  assert(#cpu == #gpu, ("%d results on the device, %d on the CPU"):format(#gpu, #cpu))
  compare(gpu, cpu, tol or 1e-5, "result")
  return unpack(cpu)
end

return G
