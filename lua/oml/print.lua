-- oml.print: tensors as Torch7 prints them. Values stand right-aligned in
-- columns of one common format: integers without decimals, floats with
-- `precision` decimals, scaled by a common "1e-05 *" line or in scientific
-- notation when their magnitudes call for it (Torch7's
-- Storage__printformat). 1-d tensors print as a column, 3-d and higher as
-- 2-d slices headed "(1,.,.) = ", then a footer names the type and size.
-- Beyond `threshold` elements only the first and last `edgeitems` of each
-- dim are shown, around "...", as PyTorch does.
--   format(t) -> string (Tensor's __tostring)
--   set_printoptions{precision=, threshold=, edgeitems=, linewidth=} -> the previous options
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local M = {}

local options = { precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80 }

local OPTION_CHECKS = {
  precision = function(v) return v == math.floor(v) and v >= 0 and v <= 16 end,
  threshold = function(v) return v >= 0 end,
  edgeitems = function(v) return v == math.floor(v) and v >= 1 end,
  linewidth = function(v) return v == math.floor(v) and v >= 1 end,
}

function M.set_printoptions(new)
  local name = "oml.set_printoptions"
  if type(new) ~= "table" then T.raise(name, "expected a table of options (got %s)", type(new)) end
  for k, v in pairs(new) do
    local ok = OPTION_CHECKS[k]
    if ok == nil then T.raise(name, "unknown option '%s'", tostring(k)) end
    if type(v) ~= "number" or not ok(v) then T.raise(name, "bad value for %s: %s", k, T.show(v)) end
  end
  local old = {}
  for k, v in pairs(options) do old[k] = v end
  for k, v in pairs(new) do options[k] = v end
  return old
end

-- ---- reading elements ----------------------------------------------------------

local FLOAT32, FLOAT64, BOOL, FLOAT16, BFLOAT16 = T.FLOAT32, T.FLOAT64, T.BOOL, T.FLOAT16, T.BFLOAT16

-- A CPU tensor whose elements Lua reads through a typed pointer.
local function readable(t)
  local dtype = t.dtype_
  if dtype == FLOAT16 or dtype == BFLOAT16 then dtype = FLOAT32 end
  if dtype == t.dtype_ and t.device_ == T.CPU then return t end
  local out = T.new()
  T.check(C.oml_tensor_to(t, out, dtype, T.CPU), "oml.print")
  return out
end

-- The indices shown along a dim of size n: all of them, or the first and
-- last edge ones around false (the "...").
local function shown_indices(n, summarize)
  local edge = options.edgeitems
  local list = {}
  if summarize and n > 2 * edge then
    for i = 1, edge do list[#list + 1] = i end
    list[#list + 1] = false
    for i = n - edge + 1, n do list[#list + 1] = i end
  else
    for i = 1, n do list[i] = i end
  end
  return list
end

-- Calls fn(offset) for every shown element, walking dims from d.
local function each_shown(t, shown, d, offset, fn)
  if d == t.ndim_ then return fn(offset) end
  local stride = tonumber(t.stride_[d])
  for _, i in ipairs(shown[d + 1]) do
    if i then each_shown(t, shown, d + 1, offset + (i - 1) * stride, fn) end
  end
end

-- ---- the common format ---------------------------------------------------------

local function pad(s, width) return string.rep(" ", width - #s) .. s end

local SPECIAL = { [math.huge] = "inf", [-math.huge] = "-inf" }

local function special(v)
  if v ~= v then return "nan" end
  return SPECIAL[v]
end

-- Torch7's rules for floating values: {fmt, width, scale}.
local function float_format(values)
  local p = options.precision
  local int_mode, min_abs, max_abs = true, math.huge, 0
  local width_special = 0
  for _, v in ipairs(values) do
    local s = special(v)
    if s then
      width_special = math.max(width_special, #s)
    else
      if v ~= math.ceil(v) then int_mode = false end
      local a = math.abs(v)
      min_abs, max_abs = math.min(min_abs, a), math.max(max_abs, a)
    end
  end
  local function exponent(a)
    if a == 0 or a == math.huge then return 1 end
    return math.floor(math.log10(a)) + 1
  end
  local exp_min, exp_max = exponent(min_abs), exponent(max_abs)
  local fmt, width, scale
  if int_mode then
    if exp_max > 9 then
      fmt, width = "%" .. (7 + p) .. "." .. p .. "e", 7 + p
    else
      fmt, width = "%" .. (exp_max + 1) .. "d", exp_max + 1
    end
  elseif exp_max - exp_min > 4 then
    width = 7 + p
    if math.abs(exp_max) > 99 or math.abs(exp_min) > 99 then width = width + 1 end
    fmt = "%" .. width .. "." .. p .. "e"
  elseif exp_max > 5 or exp_max < 0 then
    width = 3 + p
    fmt, scale = "%" .. width .. "." .. p .. "f", 10 ^ (exp_max - 1)
  else
    width = exp_max == 0 and 3 + p or exp_max + 2 + p
    fmt = "%" .. width .. "." .. p .. "f"
  end
  width = math.max(width, width_special)
  return {
    width = width,
    scale = scale,
    cell = function(v)
      local s = special(v)
      if s then return pad(s, width) end
      return pad(fmt:format(scale and v / scale or v), width)
    end,
  }
end

-- Integer dtypes print exactly (int64 beyond 2^53 too); width leaves room
-- for a sign, as Torch7's integer format does.
local function integer_format(values)
  local width = 0
  for _, v in ipairs(values) do
    local digits = #tostring(v < 0 and -v or v):gsub("[UL]+$", "")
    width = math.max(width, digits + 1)
  end
  return {
    width = width,
    cell = function(v) return pad((tostring(v):gsub("[UL]+$", "")), width) end,
  }
end

local function bool_format(values)
  local width = 4
  for _, v in ipairs(values) do if v == 0 then width = 5 end end
  return {
    width = width,
    cell = function(v) return pad(v ~= 0 and "true" or "false", width) end,
  }
end

-- ---- layout ----------------------------------------------------------------------

-- Lines of a matrix: rows and cols are shown-index lists, cell(r, c) the
-- formatted value. Columns wrap at linewidth under "Columns a to b" headers,
-- as in Torch7.
local function matrix_lines(lines, rows, cols, cell, f, indent)
  local per_line = math.max(1, math.floor((options.linewidth - #indent) / (f.width + 1)))
  local row_indent = indent .. (f.scale and " " or "")
  for first = 1, #cols, per_line do
    local last = math.min(first + per_line - 1, #cols)
    if per_line < #cols then
      if first ~= 1 then lines[#lines + 1] = "" end
      local a, b = cols[first] or cols[first + 1], cols[last] or cols[last - 1]
      lines[#lines + 1] = indent .. "Columns " .. a .. " to " .. b
    end
    if f.scale then lines[#lines + 1] = indent .. ("%g"):format(f.scale) .. " *" end
    for _, r in ipairs(rows) do
      if r then
        local cells = {}
        for k = first, last do cells[#cells + 1] = cols[k] and cell(r, cols[k]) or "..." end
        lines[#lines + 1] = row_indent .. table.concat(cells, " ")
      else
        lines[#lines + 1] = row_indent .. "..."
      end
    end
  end
end

local function footer(t)
  local where = t.device_ == T.CPU and "" or " (" .. T.device_name(t.device_) .. ")"
  if t.ndim_ == 0 then return "[" .. t:type() .. " with no dimension" .. where .. "]" end
  return "[" .. t:type() .. " of size " .. table.concat(t:size(), "x") .. where .. "]"
end

function M.format(t)
  if t.storage_ == nil then return "[unset oml.Tensor]" end
  if t.numel_ == 0 then return footer(t) end
  local r = readable(t)
  local nd = r.ndim_
  local ptr = ffi.cast(T.POINTER_TYPES[r.dtype_], r.data_)
  local function get(offset) return ptr[offset] end -- int64 stays a cdata: printed exactly

  local summarize = tonumber(r.numel_) > options.threshold
  local shown = {}
  for d = 1, nd do shown[d] = shown_indices(tonumber(r.size_[d - 1]), summarize) end
  local values = {}
  each_shown(r, shown, 0, 0, function(offset) values[#values + 1] = get(offset) end)
  local f
  if r.dtype_ == BOOL then f = bool_format(values)
  elseif r.dtype_ <= FLOAT64 then f = float_format(values)
  else f = integer_format(values) end

  local lines = {}
  if nd <= 1 then
    -- a column of values, as Torch7 prints vectors (and here 0-d tensors)
    if f.scale then lines[1] = ("%g"):format(f.scale) .. " *" end
    local stride = nd == 1 and tonumber(r.stride_[0]) or 0
    for _, i in ipairs(shown[1] or { 1 }) do
      lines[#lines + 1] = i and f.cell(get((i - 1) * stride)) or "..."
    end
  else
    local rs, cs = tonumber(r.stride_[nd - 2]), tonumber(r.stride_[nd - 1])
    local function slice(base, indent)
      matrix_lines(lines, shown[nd - 1], shown[nd],
                   function(i, j) return f.cell(get(base + (i - 1) * rs + (j - 1) * cs)) end, f, indent)
    end
    if nd == 2 then
      slice(0, "")
    else
      -- one "(i,j,.,.) = " block per shown index of the leading dims
      local function blocks(d, base, prefix)
        if d == nd - 2 then
          if #lines > 0 then lines[#lines + 1] = "" end
          lines[#lines + 1] = "(" .. prefix .. ".,.) = "
          return slice(base, " ")
        end
        local stride = tonumber(r.stride_[d])
        for _, i in ipairs(shown[d + 1]) do
          if i then
            blocks(d + 1, base + (i - 1) * stride, prefix .. i .. ",")
          else
            lines[#lines + 1] = ""
            lines[#lines + 1] = "..."
          end
        end
      end
      blocks(0, 0, "")
    end
  end
  lines[#lines + 1] = footer(t)
  return table.concat(lines, "\n")
end

return M
