-- oml: metric learning on a C tensor engine, driven from LuaJIT.
--   local oml = require "oml"
--   local a = oml.tensor{{1, 2, 3}, {4, 5, 6}}
--   print(oml.matmul(a, a:t()))
local T = require "oml.tensor"

local oml = {
  Tensor = T.Tensor,
  is_tensor = T.is_tensor,
  version = "0.1.0",
}

-- Each op family adds methods (t:name(...), also oml.name(t, ...)) and
-- functions (oml.name(...) only).
local FAMILIES = {
  "creation", "shape", "elementwise", "reduce", "linalg", "index", "sort", "join", "distance",
  "random", "system",
}

for _, family in ipairs(FAMILIES) do
  local ok, mod = pcall(require, "oml.ops." .. family)
  if not ok then
    if not tostring(mod):find("module 'oml.ops." .. family .. "' not found", 1, true) then error(mod, 0) end
  else
    for name, fn in pairs(mod.methods or {}) do
      T.Tensor[name] = fn
      oml[name] = oml[name] or fn
    end
    for name, fn in pairs(mod.functions or {}) do oml[name] = fn end
  end
end

return oml
