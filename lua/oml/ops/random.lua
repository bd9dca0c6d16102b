-- oml.ops.random: seeding, generators and random tensors. The engine draws
-- from Philox4x32-10, a counter-based generator: a seed gives the same
-- numbers on every machine and for any thread count. The default generator
-- starts with seed 42 in every process (engine/src/core/rng.c).
--   oml.manual_seed(0); local x = oml.rand(2, 3)
--   local g = oml.Generator(7); local y = oml.randn(4, {dtype = "float64", generator = g})
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local raise, check = T.raise, T.check
local functions, methods = {}, {}

local generator_ct = ffi.typeof("oml_generator")
local generator_ptr_ct = ffi.typeof("oml_generator *")
local int64_ct, uint64_ct = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

-- ---- arguments ---------------------------------------------------------------

-- An integer argument for the engine's int64 parameters: a Lua number that
-- is an integer in int64's range, or an int64 cdata.
local function integer(x, name, what)
  if ffi.istype(int64_ct, x) then return x end
  return T.integer(x, name, what)
end

-- (type(x) == "nil" rather than x == nil, which a NULL pointer cdata passes)
local function number(x, default, name, what)
  if type(x) == "nil" then return default end
  if type(x) ~= "number" then raise(name, "%s must be a number (got %s)", what, T.kind(x)) end
  return x
end

-- A seed: an integer in [-2^63, 2^64) (negative seeds wrap around, as in
-- PyTorch) or an int64/uint64 cdata.
local function to_seed(seed, name)
  if ffi.istype(uint64_ct, seed) then return seed end
  if ffi.istype(int64_ct, seed) then return ffi.cast(uint64_ct, seed) end
  if type(seed) ~= "number" or seed ~= math.floor(seed) or seed < -2 ^ 63 or seed >= 2 ^ 64 then
    raise(name, "the seed must be an integer (got %s)", T.show(seed))
  end
  if seed < 0 then return ffi.cast(uint64_ct, ffi.new(int64_ct, seed)) end
  return ffi.new(uint64_ct, seed)
end

-- A seed as a Lua number when it is one exactly, else as the uint64 cdata.
local function seed_value(seed)
  if seed <= 2 ^ 53 then return tonumber(seed) end
  return seed
end

local function is_generator(g)
  return ffi.istype(generator_ct, g) or ffi.istype(generator_ptr_ct, g)
end

local function generator_arg(g, name)
  if type(g) ~= "nil" and not is_generator(g) then
    raise(name, "the generator must be an oml.Generator (got %s)", T.kind(g))
  end
  return g
end

local OPTIONS = { dtype = true, device = true, generator = true }

-- Reads (sizes... [, dtype or options]) as T.parse_shape does, options
-- taking a generator too; returns a fresh tensor and the generator.
local function parse(name, default_dtype, ...)
  local shape, opts = T.parse_shape(name, OPTIONS, ...)
  local t = T.empty(shape, T.dtype(opts.dtype or default_dtype, name), T.device(opts.device, name), name)
  return t, generator_arg(opts.generator, name)
end

-- The generator of an in-place method's trailing argument: a generator or
-- an options table {generator = g}.
local GENERATOR_OPTION = { generator = true }

local function trailing_generator(x, name)
  if type(x) == "table" then return generator_arg(T.options(x, name, GENERATOR_OPTION).generator, name) end
  return generator_arg(x, name)
end

-- ---- generators ----------------------------------------------------------------

-- oml.Generator(seed): a generator of its own, to pass as opts.generator
-- (or as the last argument of the in-place methods). g:manual_seed(seed)
-- restarts it; g:initial_seed() gives its seed.
local Generator = {}

local function expect_generator(g, name)
  if not ffi.istype(generator_ct, g) then raise(name, "expects an oml.Generator (got %s)", T.kind(g)) end
end

function Generator.manual_seed(g, seed)
  local name = "oml.Generator.manual_seed"
  expect_generator(g, name)
  g.seed_ = to_seed(seed, name)
  g.offset_ = 0
  return g
end

function Generator.initial_seed(g)
  expect_generator(g, "oml.Generator.initial_seed")
  return seed_value(g.seed_)
end

ffi.metatype(generator_ct, {
  __index = Generator,
  __tostring = function(g)
    local offset = tostring(g.offset_):gsub("ULL$", "")
    return ("oml.Generator(seed=%s, offset=%s)"):format(tostring(seed_value(g.seed_)), offset)
  end,
})

function functions.Generator(seed)
  local g = generator_ct()
  g.seed_ = to_seed(seed, "oml.Generator")
  return g
end

-- Seeds the default generator and restarts its stream.
function functions.manual_seed(seed)
  C.oml_manual_seed(to_seed(seed, "oml.manual_seed"))
end

-- The default generator's seed, as torch.initial_seed().
function functions.initial_seed()
  return seed_value(C.oml_default_generator().seed_)
end

-- ---- random tensors ------------------------------------------------------------

-- oml.rand(sizes... [, dtype or options]): uniform in [0, 1); float32 or float64.
-- Options: dtype, device, generator.
function functions.rand(...)
  local t, g = parse("oml.rand", "float32", ...)
  check(C.oml_rand(t, g, 0, 1), "oml.rand")
  return t
end

-- oml.randn(sizes... [, dtype or options]): standard normal; float32 or float64.
function functions.randn(...)
  local t, g = parse("oml.randn", "float32", ...)
  check(C.oml_randn(t, g, 0, 1), "oml.randn")
  return t
end

-- oml.randint(low, high, sizes [, dtype or options]) or
-- oml.randint(high, sizes [, ...]): integers in [low, high), int64 unless
-- a dtype is given (any real dtype whose values hold the range).
function functions.randint(a, b, c, d)
  local name = "oml.randint"
  local low, high, sizes, opts
  if type(b) == "table" then
    low, high, sizes, opts = 0, a, b, c
  else
    low, high, sizes, opts = a, b, c, d
  end
  low, high = integer(low, name, "low"), integer(high, name, "high")
  if type(sizes) ~= "table" then raise(name, "sizes must be a list (got %s)", T.kind(sizes)) end
  local t, g = parse(name, "int64", sizes, opts)
  check(C.oml_randint(t, g, low, high), name)
  return t
end

-- oml.randperm(n [, dtype or options]): a random permutation of 1..n;
-- int64 unless a dtype is given (int32, int64, float32, float64).
local RANDPERM_OPTIONS = { dtype = true, generator = true }

function functions.randperm(n, opts)
  local name = "oml.randperm"
  n = integer(n, name, "n")
  opts = T.options(opts, name, RANDPERM_OPTIONS)
  local t = T.new()
  check(C.oml_randperm(t, generator_arg(opts.generator, name), n, T.dtype(opts.dtype or "int64", name)), name)
  return t
end

-- ---- in-place fills; each takes an optional generator last ----------------------

-- t:uniform_([low [, high]]): uniform in [low, high), default [0, 1).
function methods.uniform_(t, low, high, generator)
  local name = "oml.uniform_"
  T.expect_tensor(t, name)
  check(C.oml_rand(t, trailing_generator(generator, name), number(low, 0, name, "low"),
                   number(high, 1, name, "high")), name)
  return t
end

-- t:normal_([mean [, std]]): normal with mean and std, default (0, 1).
function methods.normal_(t, mean, std, generator)
  local name = "oml.normal_"
  T.expect_tensor(t, name)
  check(C.oml_randn(t, trailing_generator(generator, name), number(mean, 0, name, "mean"),
                    number(std, 1, name, "std")), name)
  return t
end

-- t:random_(high) or t:random_(low, high): integers in [low, high) (low
-- defaults to 0), for any real dtype that holds them.
function methods.random_(t, a, b, generator)
  local name = "oml.random_"
  T.expect_tensor(t, name)
  if a == nil then raise(name, "give the range: t:random_(high) or t:random_(low, high)") end
  local low, high = a, b
  if b == nil or type(b) == "table" or is_generator(b) then low, high, generator = 0, a, b end
  check(C.oml_randint(t, trailing_generator(generator, name), integer(low, name, "low"),
                      integer(high, name, "high")), name)
  return t
end

-- t:bernoulli_([p]): 1 with probability p (default 0.5), else 0; any real dtype.
function methods.bernoulli_(t, p, generator)
  local name = "oml.bernoulli_"
  T.expect_tensor(t, name)
  check(C.oml_bernoulli(t, trailing_generator(generator, name), number(p, 0.5, name, "p")), name)
  return t
end

return { functions = functions, methods = methods }
