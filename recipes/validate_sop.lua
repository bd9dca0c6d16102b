#!/usr/bin/env luajit
-- recipes/validate_sop.lua: validates OML's zoo model (or --checkpoint PATH) on sop with OML's setup
-- (lua/oml/pipelines/recipes.lua); --help lists the keys.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path
os.exit(require("oml.pipelines.recipes").validate("sop", arg))
