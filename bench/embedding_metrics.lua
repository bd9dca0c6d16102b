-- bench/embedding_metrics.lua: oml.metrics.EmbeddingMetrics over 50k items x
-- 384-d float32 (standard normal), 10k labels x 5 items, every item query
-- and gallery; cmc@1, cmc@5, precision@5, map@5 (pcf off: the figures to
-- compare with are OML's retrieval). Fed in batches of 1000, as a
-- validation loop would. Prints the time of compute_metrics (k-NN and
-- metrics apart), oml's peak memory and the process's peak RSS.
--   luajit bench/embedding_metrics.lua            (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local oml = require "oml"
local clock = require "clock"

local N, D, PER_LABEL, BATCH, THREADS = 50000, 384, 5, 1000, 2
local MB = 2 ^ -20

-- VmHWM of /proc/self/status, in MiB.
local function peak_rss()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)")) / 1024
end

oml.set_num_threads(THREADS)
oml.manual_seed(0)
local embeddings = oml.randn(N, D)
local dataset = { n = N, labels = {}, is_query = {}, is_gallery = {} }
for i = 1, N do
  dataset.labels[i] = math.floor((i - 1) / PER_LABEL)
  dataset.is_query[i], dataset.is_gallery[i] = true, true
end

oml.empty_cache()
oml.reset_peak_memory()
local before = oml.memory().current

local metrics = oml.metrics.EmbeddingMetrics {
  dataset = dataset, cmc_top_k = { 1, 5 }, precision_top_k = { 5 }, map_top_k = { 5 }, pcf_variance = {},
}
metrics:setup()
for first = 1, N, BATCH do
  metrics:update(embeddings:narrow(1, first, BATCH), oml.arange(first, first + BATCH):long())
end

local t0 = clock.now()
local result = metrics:compute_metrics()
local total = clock.now() - t0

-- the metrics part alone, on the same retrieval, for the split
local rr = metrics.retrieval_results
local t1 = clock.now()
oml.retrieval.metrics.calc_retrieval_metrics {
  retrieved_ids = rr.retrieved_ids, n_retrieved = rr.n_retrieved, gt_ids = rr.gt_ids,
  cmc_top_k = { 1, 5 }, precision_top_k = { 5 }, map_top_k = { 5 },
}
local metrics_time = clock.now() - t1

local overall = result.OVERALL
print(("EmbeddingMetrics, %d items x %d-d float32, %d labels x %d, all query and gallery, %d threads")
  :format(N, D, N / PER_LABEL, PER_LABEL, THREADS))
print(("  cmc@1 %.4f  cmc@5 %.4f  precision@5 %.4f  map@5 %.4f")
  :format(overall.cmc[1], overall.cmc[5], overall.precision[5], overall.map[5]))
print(("  compute_metrics: %.2f s (k-NN and ground truth %.2f s, metrics %.2f s)")
  :format(total, total - metrics_time, metrics_time))
print(("  oml peak memory: %.0f MiB above the %.0f MiB held before (embeddings: %.0f MiB)")
  :format((oml.memory().peak - before) * MB, before * MB, N * D * 4 * MB))
print(("  process peak RSS (VmHWM): %.0f MiB"):format(peak_rss()))
print("  OML 4.0 on Debian's PyTorch, this machine (issue 4, quoted: OML is not installed here):")
print("    69 s k-NN + 2.4 s metrics, 3.4 GB peak; target: at least 5x faster in a fifth of the memory")
