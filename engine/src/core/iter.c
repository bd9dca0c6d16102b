/* iter.c — the strided N-operand iterator behind every elementwise loop. */
#include "internal.h"

#include <omp.h>

#define MAX_OPS 4

typedef struct geometry {
  int32_t ndim, nops;
  int64_t size[OML_MAX_DIMS];
  int64_t stride[MAX_OPS][OML_MAX_DIMS]; /* bytes */
  char *base[MAX_OPS];
} geometry;

/* Drops size-1 dims and merges neighbours that step through memory as one
 * dim for every operand, so contiguous tensors become a single run. */
static void coalesce(geometry *g) {
  int32_t n = 0;
  for (int32_t d = 0; d < g->ndim; d++) {
    if (g->size[d] == 1) continue;
    if (n > 0) {
      int merge = 1;
      for (int32_t i = 0; i < g->nops && merge; i++)
        merge = g->stride[i][n - 1] == g->stride[i][d] * g->size[d];
      if (merge) {
        g->size[n - 1] *= g->size[d];
        for (int32_t i = 0; i < g->nops; i++) g->stride[i][n - 1] = g->stride[i][d];
        continue;
      }
    }
    g->size[n] = g->size[d];
    for (int32_t i = 0; i < g->nops; i++) g->stride[i][n] = g->stride[i][d];
    n++;
  }
  if (n == 0) { /* a single element */
    g->size[0] = 1;
    for (int32_t i = 0; i < g->nops; i++) g->stride[i][0] = 0;
    n = 1;
  }
  g->ndim = n;
}

/* Runs fn over linear elements [begin, end) in row-major order. */
static void run_range(const geometry *g, int64_t begin, int64_t end, oml_loop_fn fn, void *ctx) {
  int32_t nd = g->ndim, inner = nd - 1;
  int64_t idx[OML_MAX_DIMS], rest = begin;
  for (int32_t d = nd - 1; d >= 0; d--) {
    idx[d] = rest % g->size[d];
    rest /= g->size[d];
  }
  char *ptrs[MAX_OPS];
  int64_t strides[MAX_OPS];
  for (int32_t i = 0; i < g->nops; i++) strides[i] = g->stride[i][inner];
  int64_t pos = begin;
  while (pos < end) {
    for (int32_t i = 0; i < g->nops; i++) {
      char *p = g->base[i];
      for (int32_t d = 0; d < nd; d++) p += idx[d] * g->stride[i][d];
      ptrs[i] = p;
    }
    int64_t run = g->size[inner] - idx[inner];
    if (run > end - pos) run = end - pos;
    fn(ptrs, strides, run, ctx);
    pos += run;
    idx[inner] += run;
    for (int32_t d = inner; d > 0 && idx[d] == g->size[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

void oml_foreach(int32_t nops, const oml_tensor *const *ops, oml_loop_fn fn, void *ctx) {
  geometry g;
  g.nops = nops;
  g.ndim = ops[0]->ndim_;
  int64_t numel = ops[0]->numel_;
  if (numel == 0) return;
  for (int32_t d = 0; d < g.ndim; d++) g.size[d] = ops[0]->size_[d];
  for (int32_t i = 0; i < nops; i++) {
    int64_t elsize = oml_dtype_size(ops[i]->dtype_);
    g.base[i] = ops[i]->data_;
    for (int32_t d = 0; d < g.ndim; d++) g.stride[i][d] = ops[i]->stride_[d] * elsize;
  }
  coalesce(&g);
  if (!oml_parallel_ok(numel)) {
    run_range(&g, 0, numel, fn, ctx);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t chunk = (numel + nt - 1) / nt;
    /* keep chunk edges on 16-element boundaries so threads never share a cache line of output */
    chunk = (chunk + 15) & ~(int64_t)15;
    int64_t begin = t * chunk, end = begin + chunk < numel ? begin + chunk : numel;
    if (begin < end) run_range(&g, begin, end, fn, ctx);
  }
}
