-- oml.ops.sort: sort, argsort and topk along a dim (the last by default).
-- Indices are int64 and 1-based. Sorting is stable: equal elements keep
-- their order (in descending order too), and NaN sorts above every number.
local T = require "oml.tensor"

local C = T.C
local new, check, cdim = T.new, T.check, T.cdim
local methods = {}

-- t:sort([dim=-1 [, descending=false]]) -> values, indices
function methods.sort(t, dim, descending)
  local name = "oml.sort"
  T.expect_tensor(t, name)
  local values, indices = new(), new()
  check(C.oml_sort(t, values, indices, cdim(t, dim or -1, name), T.flag(descending, false, name, "descending")),
        name)
  return values, indices
end

-- t:argsort([dim=-1 [, descending=false]]) -> the indices that sort t
function methods.argsort(t, dim, descending)
  local name = "oml.argsort"
  T.expect_tensor(t, name)
  local indices = new()
  check(C.oml_sort(t, nil, indices, cdim(t, dim or -1, name), T.flag(descending, false, name, "descending")), name)
  return indices
end

-- t:topk(k [, dim=-1 [, largest=true]]) -> values, indices: the k largest
-- (or smallest) along dim, in that order; ties go to the lower index.
function methods.topk(t, k, dim, largest)
  local name = "oml.topk"
  T.expect_tensor(t, name)
  T.integer(k, name, "k")
  local values, indices = new(), new()
  check(C.oml_topk(t, values, indices, k, cdim(t, dim or -1, name), T.flag(largest, true, name, "largest")), name)
  return values, indices
end

return { methods = methods }
