#!/usr/bin/env luajit
-- recipes/train_sop.lua: trains OML's ViT-S/16 (DINO weights) on sop with OML's setup
-- (lua/oml/pipelines/recipes.lua); --help lists the keys.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path
os.exit(require("oml.pipelines.recipes").train("sop", arg))
