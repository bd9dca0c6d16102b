#!/usr/bin/env luajit
-- recipes/convert_cub.lua: CUB-200-2011 -> OML's CSV (lua/oml/data/converters/cub.lua).
--   luajit recipes/convert_cub.lua --dataset_root DIR [--no_bboxes]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local common = require "oml.data.converters.common"
local converter = require "oml.data.converters.cub"
local OPTIONS = { dataset_root = "string", no_bboxes = "flag" }
os.exit(common.main("recipes/convert_cub.lua", converter.convert, OPTIONS, arg, io.stdout, io.stderr))
