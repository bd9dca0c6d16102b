#!/usr/bin/env luajit
-- recipes/convert_cars.lua: Cars196 -> OML's CSV (lua/oml/data/converters/cars.lua).
--   luajit recipes/convert_cars.lua --dataset_root DIR [--no_bboxes]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local common = require "oml.data.converters.common"
local converter = require "oml.data.converters.cars"
local OPTIONS = { dataset_root = "string", no_bboxes = "flag" }
os.exit(common.main("recipes/convert_cars.lua", converter.convert, OPTIONS, arg, io.stdout, io.stderr))
