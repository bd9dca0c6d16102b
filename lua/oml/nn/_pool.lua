-- oml.nn._pool: argument parsing shared by the 2-d pooling layers.
local T = require "oml.tensor"

local pool = {}

-- A size given as one number or as {h, w}, each an integer >= min.
function pool.pair(x, min, name, what)
  local h, w = x, x
  if type(x) == "table" and not T.is_tensor(x) then
    if #x ~= 2 then T.raise(name, "%s must be a number or a list {h, w} (got a list of %d)", what, #x) end
    h, w = x[1], x[2]
  end
  for _, v in ipairs({ h, w }) do
    if type(v) ~= "number" or v ~= math.floor(v) or v < min or v >= 2 ^ 31 then
      T.raise(name, "%s must be %s integer or a list {h, w} of them (got %s)", what,
        min > 0 and "a positive" or "a non-negative", T.show(v))
    end
  end
  return { h, w }
end

function pool.check_input(input, name)
  T.expect_set(input, name, "the input")
  if input.ndim_ ~= 3 and input.ndim_ ~= 4 then
    T.raise(name, "expects an [N,C,H,W] or [C,H,W] input (got shape %s)", T.shape_str(input))
  end
end

function pool.pair_str(p)
  return p[1] == p[2] and tostring(p[1]) or ("(%d, %d)"):format(p[1], p[2])
end

return pool
