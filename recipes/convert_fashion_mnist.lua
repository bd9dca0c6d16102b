#!/usr/bin/env luajit
-- recipes/convert_fashion_mnist.lua: Fashion-MNIST -> JPEGs + OML's CSV (lua/oml/data/converters/fashion_mnist.lua).
--   luajit recipes/convert_fashion_mnist.lua --output DIR [--per_class N] [--source DIR]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local common = require "oml.data.converters.common"
local converter = require "oml.data.converters.fashion_mnist"
local OPTIONS = {
  output = "string", source = "string", per_class = "number", quality = "number",
}
os.exit(common.main("recipes/convert_fashion_mnist.lua", converter.convert, OPTIONS, arg, io.stdout, io.stderr))
