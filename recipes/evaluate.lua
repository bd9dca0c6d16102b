#!/usr/bin/env luajit
-- recipes/evaluate.lua: retrieval metrics for embeddings made anywhere.
--   luajit recipes/evaluate.lua --embeddings E.safetensors --dataframe D.csv [--out metrics.json]
-- (--help lists the options; the work is done by lua/oml/recipes/evaluate.lua).
-- The Lua modules are found from this file's place in the checkout (recipes/../lua).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local ok, evaluate = pcall(require, "oml.recipes.evaluate")
if not ok then
  io.stderr:write("evaluate: ", (tostring(evaluate):gsub("\n.*", "")), "\n")
  os.exit(1)
end
os.exit(evaluate.main(arg, io.stdout, io.stderr))
