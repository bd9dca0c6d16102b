#!/usr/bin/env luajit
-- recipes/convert_sop.lua: Stanford Online Products -> OML's CSV (lua/oml/data/converters/sop.lua).
--   luajit recipes/convert_sop.lua --dataset_root DIR
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local common = require "oml.data.converters.common"
local converter = require "oml.data.converters.sop"
local OPTIONS = { dataset_root = "string" }
os.exit(common.main("recipes/convert_sop.lua", converter.convert, OPTIONS, arg, io.stdout, io.stderr))
