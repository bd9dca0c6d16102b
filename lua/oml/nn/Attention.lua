-- oml.nn.Attention(dim [, {num_heads = 8, qkv_bias = false, qk_scale = nil,
-- attn_drop = 0, proj_drop = 0, proj_bias = true}]): multi-head
-- self-attention as DINO's (and DINOv2's) vision_transformer.Attention, with
-- the same children (qkv, attn_drop, proj, proj_drop) so that their state
-- dicts load: [B,N,dim] -> [B,N,dim].
--   qkv = x W_qkv^T (+ b), split into q, k, v of [B,heads,N,dim/heads];
--   attn = softmax(q k^T * scale) over the keys, scale = (dim/heads)^-0.5;
--   out = proj((attn v) with the heads merged back).
-- After forward, self.attn holds the attention probabilities [B*heads,N,N]
-- (DINO's get_last_selfattention: self.attn:view(B, heads, N, N)).
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"

local C = T.C
local NAME = "oml.nn.Attention"
local Attention = nn.class("Attention", nn.Module)

local OPTIONS = { num_heads = true, qkv_bias = true, qk_scale = true, attn_drop = true, proj_drop = true,
                  proj_bias = true }

function Attention:__init(dim, opts)
  nn.Module.__init(self)
  self.dim = T.count(dim, NAME, "dim")
  opts = T.options(opts, NAME, OPTIONS)
  local heads = opts.num_heads or 8
  if type(heads) ~= "number" or heads < 1 or heads ~= math.floor(heads) then
    T.raise(NAME, "num_heads must be a positive integer (got %s)", T.show(heads))
  end
  if dim % heads ~= 0 then T.raise(NAME, "dim %d is not a multiple of num_heads %d", dim, heads) end
  self.num_heads = heads
  local scale = opts.qk_scale or (dim / heads) ^ -0.5
  if type(scale) ~= "number" then T.raise(NAME, "qk_scale must be a number (got %s)", T.kind(scale)) end
  self.scale = scale
  self:add_module("qkv", nn.Linear(dim, 3 * dim, { bias = opts.qkv_bias == true }))
  self:add_module("attn_drop", nn.Dropout(opts.attn_drop or 0))
  self:add_module("proj", nn.Linear(dim, dim, { bias = opts.proj_bias ~= false }))
  self:add_module("proj_drop", nn.Dropout(opts.proj_drop or 0))
end

local function shape(self, input, what)
  T.expect_set(input, NAME, what)
  if input.ndim_ ~= 3 or tonumber(input.size_[2]) ~= self.dim then
    T.raise(NAME, "%s must have shape [B,N,%d] (got %s)", what, self.dim, T.shape_str(input))
  end
  return tonumber(input.size_[0]), tonumber(input.size_[1]), self.dim, self.num_heads, self.dim / self.num_heads
end

local function matmul(a, b, out)
  out = out or T.new()
  T.check(C.oml_matmul(a, b, out), NAME)
  return out
end

-- q (its first nq tokens), k, v of a [B,N,3*D] qkv tensor as [B,H,tokens,hd]
-- views: the products read them where they lie, without copies.
local function split_heads(qkv, B, N, H, hd, nq)
  local t = qkv:view(B, N, 3, H, hd)
  return t:select(3, 1):narrow(2, 1, nq):transpose(2, 3), t:select(3, 2):transpose(2, 3),
         t:select(3, 3):transpose(2, 3)
end

-- Attention of the first nq tokens (the queries) over all N (the keys and
-- values): [B,N,D] -> [B,nq,D]. nq = N (nil) is the layer's forward; nq = 1 is
-- all that a model reading only the class token needs of its last block.
local function attend(self, input, nq)
  local B, N, D, H, hd = shape(self, input, "the input")
  nq = nq or N
  local qkv = self.qkv:forward(input)
  self.qkv.output = nil -- self.qkv_ holds it for backward; keep one reference
  local q, k, v = split_heads(qkv, B, N, H, hd, nq)
  q:mul_(self.scale) -- scaling q costs less than scaling the nq x N scores
  local attn = matmul(q, k:transpose(3, 4)) -- [B,H,nq,N]
  T.check(C.oml_softmax_forward(attn, attn, 3, 0), NAME)
  local context = matmul(self.attn_drop:forward(attn), v)
  local merged = context:transpose(2, 3):reshape(B, nq, D)
  self.qkv_, self.attn, self.merged = qkv, attn:view(B * H, nq, N), merged
  self.output = self.proj_drop:forward(self.proj:forward(merged))
  return self.output
end

local function attend_backward(self, input, grad_output, nq)
  local B, N, D, H, hd = shape(self, input, "the input")
  nq = nq or N
  local gB, gN = shape(self, grad_output, "grad_output")
  if gB ~= B or gN ~= nq then
    T.raise(NAME, "grad_output must have shape [%d,%d,%d] (got %s)", B, nq, D, T.shape_str(grad_output))
  end
  if self.qkv_ == nil then T.raise(NAME, "backward needs a forward pass first") end
  local g = self.proj_drop:backward(self.proj.output, grad_output)
  g = self.proj:backward(self.merged, g):view(B, nq, H, hd):transpose(2, 3)
  local q, k, v = split_heads(self.qkv_, B, N, H, hd, nq) -- q already scaled
  local attn, attn_used = self.attn:view(B, H, nq, N), self.attn_drop.output:view(B, H, nq, N)
  local grad_qkv = oml.empty({ B, N, 3 * D }, { dtype = input.dtype, device = input.device })
  local gq, gk, gv = split_heads(grad_qkv, B, N, H, hd, N)
  if nq < N then gq:narrow(3, nq + 1, N - nq):zero_() end -- queries that were not asked
  gq = gq:narrow(3, 1, nq)
  matmul(attn_used:transpose(3, 4), g, gv)
  local gattn = self.attn_drop:backward(attn, matmul(g, v:transpose(3, 4)))
  T.check(C.oml_softmax_backward(attn, gattn, gattn, 3, 0), NAME) -- now the scores' gradient
  matmul(gattn, k, gq):mul_(self.scale)
  matmul(gattn:transpose(3, 4), q, gk)
  self.grad_input = self.qkv:backward(input, grad_qkv)
  return self.grad_input
end

function Attention:forward(input) return attend(self, input) end
function Attention:backward(input, grad_output) return attend_backward(self, input, grad_output) end

-- forward_class_token(input): the output of the first token only,
-- [B,N,dim] -> [B,1,dim] (self.attn is then [B*heads,1,N]);
-- backward_class_token(input, grad_output) is its backward.
function Attention:forward_class_token(input) return attend(self, input, 1) end
function Attention:backward_class_token(input, grad_output) return attend_backward(self, input, grad_output, 1) end

function Attention:extra_repr() return ("dim=%d, num_heads=%d"):format(self.dim, self.num_heads) end

return Attention
