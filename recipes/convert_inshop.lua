#!/usr/bin/env luajit
-- recipes/convert_inshop.lua: DeepFashion In-shop -> OML's CSV (lua/oml/data/converters/inshop.lua).
--   luajit recipes/convert_inshop.lua --dataset_root DIR [--no_bboxes] [--images_dir img]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local common = require "oml.data.converters.common"
local converter = require "oml.data.converters.inshop"
local OPTIONS = { dataset_root = "string", no_bboxes = "flag", images_dir = "string" }
os.exit(common.main("recipes/convert_inshop.lua", converter.convert, OPTIONS, arg, io.stdout, io.stderr))
