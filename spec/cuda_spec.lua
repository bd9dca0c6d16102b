-- CUDA memory and copies: parity with the CPU. Tagged gpu; pending where
-- no GPU is present (run them alone with `busted --lua=luajit --tags=gpu`).
local oml = require "oml"
local H = require "helper"
local G = require "gpu_helper"

-- These run without a GPU: cuBLAS and cuDNN are loaded when first needed,
-- so that a CUDA build costs nothing to its CPU users.
describe("CUDA's libraries", function()
  it("load where oml was built with CUDA, with every function oml calls", function()
    local found = oml.cuda.libraries()
    if oml.cuda.is_compiled() then
      assert.is_true(found.cublas, found.cublas)
      assert.is_true(found.cudnn, found.cudnn)
    else
      assert.equal("oml was built without CUDA", found.cublas)
      assert.equal("oml was built without CUDA", found.cudnn)
    end
  end)

  it("are not mapped by require \"oml\"", function()
    local p = assert(io.popen([[luajit -e 'package.path = "lua/?.lua;lua/?/init.lua;" .. package.path; require "oml"; io.write(io.open("/proc/self/maps"):read("*a"))']]))
    local maps = p:read("*a")
    p:close()
    assert.truthy(maps:find("liboml", 1, true), "oml's library should be mapped")
    assert.falsy(maps:find("libcublas", 1, true))
    assert.falsy(maps:find("libcudnn", 1, true))
  end)
end)

G.describe("cuda tensors", function()

  it("round-trip every dtype through the device", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool", "float16", "bfloat16" } do
      local t = oml.tensor({ 0, 1, 2, 3 }, dtype)
      local g = t:cuda()
      assert.equal("cuda:0", g.device)
      assert.equal(dtype, g.dtype)
      assert.same(t:totable(), g:cpu():totable(), dtype)
    end
  end)

  it("copy views and convert dtypes across devices", function()
    local a = oml.arange(12):view(3, 4):double()
    local g = a:t():cuda() -- a non-contiguous source
    H.close(g:cpu(), a:t())
    local gv = oml.zeros(4, 4, { device = "cuda" })
    gv:narrow(2, 2, 3):copy(a:t():narrow(2, 1, 3)) -- into a non-contiguous device view
    H.close(gv:cpu():narrow(2, 2, 3), a:t():narrow(2, 1, 3))
    H.close(gv:cpu():select(2, 1), { 0, 0, 0, 0 })
    local h = g:to { dtype = "float32", device = "cuda" }
    assert.equal("float32", h.dtype)
    H.close(h:cpu(), a:t())
    H.close(g:cuda():cpu(), a:t()) -- device to device
  end)

  it("fill and print device tensors, and account device memory", function()
    local before = oml.memory("cuda").current
    local g = oml.full({ 2, 3 }, 7, { device = "cuda" })
    assert.same({ { 7, 7, 7 }, { 7, 7, 7 } }, g:totable())
    assert.is_true(oml.memory("cuda").current > before)
    assert.truthy(tostring(g):find("[oml.CudaFloatTensor of size 2x3 (cuda:0)]", 1, true))
  end)

  it("refuse ops that have no CUDA kernel yet", function()
    local g = oml.zeros(3, 4, 5, { device = "cuda" }) -- a float32 [3,H,W] image; image ops stay on the CPU
    H.raises(function() local _ = oml.data.transforms.hflip(g) end,
      "oml.transforms.hflip: the image is on cuda:0; this op runs on the CPU only for now")
  end)
end)
