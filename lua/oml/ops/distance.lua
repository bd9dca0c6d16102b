-- oml.ops.distance: normalizing vectors and pairwise distances between the
-- rows of two matrices (float32 and float64).
local T = require "oml.tensor"

local C = T.C
local new, check, raise = T.new, T.check, T.raise
local functions, methods = {}, {}

-- t:normalize([p=2 [, dim [, eps=1e-12]]]): t / max(||t||_p, eps) along dim,
-- as torch.nn.functional.normalize. dim defaults to 2 (each row of a
-- matrix), or 1 for a 1-d tensor. p may be math.huge.
function methods.normalize(t, p, dim, eps)
  local name = "oml.normalize"
  T.expect_tensor(t, name)
  p, eps = p or 2, eps or 1e-12
  if type(p) ~= "number" then raise(name, "p must be a number (got %s)", T.kind(p)) end
  if type(eps) ~= "number" then raise(name, "eps must be a number (got %s)", T.kind(eps)) end
  local d = T.cdim(t, dim or (t.ndim_ <= 1 and 1 or 2), name)
  local out = new()
  check(C.oml_normalize(t, out, p, d, eps), name)
  return out
end

local METRICS = { euclidean = C.OML_EUCLIDEAN, cosine = C.OML_COSINE }

-- oml.cdist(x, y [, metric="euclidean"]): distances between the rows of x
-- [n,d] and y [m,d] as an [n,m] tensor. "euclidean" is torch.cdist's (exact
-- differences up to 25 rows on both sides, a GEMM beyond); "cosine" is
-- 1 - the cosine similarity.
function functions.cdist(x, y, metric)
  local name = "oml.cdist"
  T.expect_tensor(x, name, "x")
  T.expect_tensor(y, name, "y")
  local m = METRICS[metric or "euclidean"]
  if m == nil then raise(name, "unknown metric %s (use \"euclidean\" or \"cosine\")", T.show(metric)) end
  local out = new()
  check(C.oml_cdist(x, y, out, m), name)
  return out
end

return { functions = functions, methods = methods }
