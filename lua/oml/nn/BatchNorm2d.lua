-- oml.nn.BatchNorm2d(num_features, {eps = 1e-5, momentum = 0.1, affine = true,
-- track_running_stats = true}): batch norm over [N,C,H,W], as PyTorch's.
local nn = require "oml.nn"

local BatchNorm2d = nn.class("BatchNorm2d", nn._BatchNorm)
BatchNorm2d.input_dims = { [4] = true }
BatchNorm2d.input_desc = "an [N,C,H,W]"

return BatchNorm2d
