-- oml.nn.ModuleList{m1, m2, ...}: a list of modules that a parent runs itself
-- (ViT's blocks); children named "0", "1", ... as in PyTorch, kept 1-based in
-- self.modules.
local Module = require "oml.nn.Module"
local T = require "oml.tensor"

local ModuleList = Module.class("ModuleList", Module)

function ModuleList:__init(modules)
  Module.__init(self)
  if modules ~= nil and (type(modules) ~= "table" or Module.is_module(modules)) then
    T.raise("oml.nn.ModuleList", "expects a list of modules (got %s)", T.kind(modules))
  end
  self.modules = {}
  for _, m in ipairs(modules or {}) do self:append(m) end
end

function ModuleList:append(module)
  self:add_module(#self.modules, module)
  self.modules[#self.modules + 1] = module
  return self
end

return ModuleList
