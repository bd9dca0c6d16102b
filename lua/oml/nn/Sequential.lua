-- oml.nn.Sequential(m1, m2, ...): modules applied one after the other; the
-- children are named "0", "1", ... as in PyTorch, and kept 1-based in
-- self.modules.
local Module = require "oml.nn.Module"

local Sequential = Module.class("Sequential", Module)

function Sequential:__init(...)
  Module.__init(self)
  self.modules = {}
  for i = 1, select("#", ...) do self:add((select(i, ...))) end
end

function Sequential:add(module)
  self:add_module(#self.modules, module)
  self.modules[#self.modules + 1] = module
  return self
end

function Sequential:forward(input)
  local x = input
  self._inputs = {}
  for i, m in ipairs(self.modules) do
    self._inputs[i] = x
    x = m:forward(x)
  end
  self.output = x
  return x
end

-- Each child's input from the forward pass feeds its backward; then the
-- child's saved state is dropped, so that activations do not outlive their use.
function Sequential:backward(input, grad_output)
  local g = grad_output
  local inputs = self._inputs or {}
  inputs[1] = input
  for i = #self.modules, 1, -1 do
    g = self.modules[i]:backward(inputs[i], g)
    self.modules[i]:clear_state()
  end
  self._inputs = nil
  self.grad_input = g
  return g
end

return Sequential
