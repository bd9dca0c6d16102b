#!/usr/bin/env luajit
-- recipes/predict.lua: embeddings of a folder of JPEG images or of a dataframe's rows
-- (lua/oml/pipelines/predict.lua) -> RUN/embeddings.safetensors + RUN/paths.json.
--   luajit recipes/predict.lua --data_dir DIR --checkpoint logs/RUN/best.safetensors
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path
os.exit(require("oml.pipelines.predict").main(arg))
