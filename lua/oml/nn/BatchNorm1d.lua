-- oml.nn.BatchNorm1d(num_features, {eps = 1e-5, momentum = 0.1, affine = true,
-- track_running_stats = true}): batch norm over [N,C] or [N,C,L], as PyTorch's.
local nn = require "oml.nn"

local BatchNorm1d = nn.class("BatchNorm1d", nn._BatchNorm)
BatchNorm1d.input_dims = { [2] = true, [3] = true }
BatchNorm1d.input_desc = "an [N,C] or [N,C,L]"

return BatchNorm1d
