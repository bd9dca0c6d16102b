-- oml.nn: layers, containers and criteria with the Torch7 nn contract
-- (forward, explicit backward, named parameters). Each lives in its own file,
-- lua/oml/nn/<Name>.lua, loaded on first access: oml.nn.Conv2d(...).
local Module = require "oml.nn.Module"

local nn = {
  Module = Module,
  class = Module.class,
  is_module = Module.is_module,
}

return setmetatable(nn, {
  __index = function(t, name)
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then return nil end
    local ok, mod = pcall(require, "oml.nn." .. name)
    if not ok then
      if tostring(mod):find("module 'oml.nn." .. name .. "' not found", 1, true) then return nil end
      error(mod, 2)
    end
    rawset(t, name, mod)
    return mod
  end,
})
