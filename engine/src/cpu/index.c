/* cpu/index.c — gather and scatter (behind every index op), masks, nonzero.
 *
 * Work is cut into lines along the last dim. A gather writes each output
 * element once, so any line can run on any thread. A scatter may hit one
 * element of dst from many positions; those positions always share their
 * coordinates outside `dim`, so a work item is all the lines that share the
 * coordinates before `dim` (and, when `dim` is not the last dim, one chunk of
 * the last dim): no two work items touch the same element of dst, and inside
 * one the positions run in row-major order, whatever the thread count. */
#include "index.h"

#include <omp.h>

/* ---- lines ---------------------------------------------------------------- */

void oml_lines_init(oml_lines *l, int32_t nops, const oml_tensor *const *ops, int32_t ndim, const int64_t *size,
                    int32_t dim) {
  memset(l, 0, sizeof *l);
  l->nops = nops;
  l->count = 1;
  l->len = ndim > 0 ? size[dim] : 1;
  for (int32_t i = 0; i < nops; i++) {
    int64_t elsize = oml_dtype_size(ops[i]->dtype_);
    l->base[i] = ops[i]->data_;
    l->step[i] = ndim > 0 ? ops[i]->stride_[dim] * elsize : 0;
  }
  for (int32_t d = 0; d < ndim; d++) {
    if (d == dim) continue;
    int32_t o = l->nouter++;
    l->outer_size[o] = size[d];
    l->count *= size[d];
    for (int32_t i = 0; i < nops; i++) l->outer_stride[i][o] = ops[i]->stride_[d] * oml_dtype_size(ops[i]->dtype_);
  }
}

void oml_lines_start(const oml_lines *l, int64_t line, char **ptrs) {
  for (int32_t i = 0; i < l->nops; i++) ptrs[i] = l->base[i];
  for (int32_t o = l->nouter - 1; o >= 0; o--) {
    int64_t c = line % l->outer_size[o];
    line /= l->outer_size[o];
    for (int32_t i = 0; i < l->nops; i++) ptrs[i] += c * l->outer_stride[i][o];
  }
}

/* ---- element moves ---------------------------------------------------------- */

static void copy_run(char *d, int64_t sd, const char *s, int64_t ss, int64_t n, int64_t elsize) {
  if (sd == elsize && ss == elsize) {
    memcpy(d, s, (size_t)(n * elsize));
    return;
  }
  switch (elsize) {
  case 1: for (int64_t j = 0; j < n; j++) d[j * sd] = s[j * ss]; break;
  case 2: for (int64_t j = 0; j < n; j++) memcpy(d + j * sd, s + j * ss, 2); break;
  case 4: for (int64_t j = 0; j < n; j++) memcpy(d + j * sd, s + j * ss, 4); break;
  default: for (int64_t j = 0; j < n; j++) memcpy(d + j * sd, s + j * ss, 8); break;
  }
}

/* alpha in the two forms the dtypes need */
typedef struct scale { double f; int64_t i; } scale;

/* d[j] += alpha * s[j] over a run; integers wrap around as in PyTorch */
#define ADD_RUN(SUFFIX, T, EXPR)                                                           \
  static void add_run_##SUFFIX(char *d, int64_t sd, const char *s, int64_t ss, int64_t n,  \
                               const scale *k) {                                           \
    if (sd == (int64_t)sizeof(T) && ss == (int64_t)sizeof(T)) {                            \
      T *dp = (T *)d;                                                                      \
      const T *sp = (const T *)s;                                                          \
      for (int64_t j = 0; j < n; j++) { T x = sp[j], y = dp[j]; dp[j] = (T)(EXPR); }       \
    } else {                                                                               \
      for (int64_t j = 0; j < n; j++) {                                                    \
        T *dp = (T *)(d + j * sd);                                                         \
        T x = *(const T *)(s + j * ss), y = *dp;                                           \
        *dp = (T)(EXPR);                                                                   \
      }                                                                                    \
    }                                                                                      \
  }

ADD_RUN(f32, float, y + (float)k->f * x)
ADD_RUN(f64, double, y + k->f * x)
ADD_RUN(i32, int32_t, (uint32_t)y + (uint32_t)k->i * (uint32_t)x)
ADD_RUN(i64, int64_t, (uint64_t)y + (uint64_t)k->i * (uint64_t)x)
ADD_RUN(u8, uint8_t, (uint32_t)y + (uint32_t)k->i * (uint32_t)x)

/* The one dtype switch of the accumulating kernels (bool and the
 * storage-only dtypes are refused by the caller). */
static void add_run(int32_t dtype, char *d, int64_t sd, const char *s, int64_t ss, int64_t n, const scale *k) {
  switch (dtype) {
  case OML_FLOAT32: add_run_f32(d, sd, s, ss, n, k); break;
  case OML_FLOAT64: add_run_f64(d, sd, s, ss, n, k); break;
  case OML_INT32: add_run_i32(d, sd, s, ss, n, k); break;
  case OML_INT64: add_run_i64(d, sd, s, ss, n, k); break;
  default: add_run_u8(d, sd, s, ss, n, k); break;
  }
}

/* ---- work items --------------------------------------------------------------
 * items = groups x chunks; a group is per_group consecutive lines, a chunk a
 * piece of every line of the group. */

typedef struct plan {
  int64_t groups, per_group, chunks, chunk_len;
  int parallel;
} plan;

static plan make_plan(const oml_lines *l, int64_t per_group, int may_split) {
  plan p = {l->count / per_group, per_group, 1, l->len, oml_parallel_ok(l->count * l->len)};
  int64_t want = 4 * (int64_t)omp_get_max_threads();
  if (p.parallel && may_split && p.groups < want) {
    int64_t most = (l->len + 255) / 256; /* chunks of at least 256 elements */
    p.chunks = (want + p.groups - 1) / p.groups;
    if (p.chunks > most) p.chunks = most;
    if (p.chunks < 1) p.chunks = 1;
    p.chunk_len = (l->len + p.chunks - 1) / p.chunks;
    p.chunks = (l->len + p.chunk_len - 1) / p.chunk_len;
  }
  return p;
}

typedef void (*run_fn)(char **ptrs, const int64_t *steps, int64_t n, const void *ctx);

static void run_plan(const oml_lines *l, const plan *p, run_fn fn, const void *ctx) {
  int64_t items = p->groups * p->chunks;
#pragma omp parallel for schedule(static) if (p->parallel)
  for (int64_t it = 0; it < items; it++) {
    int64_t g = it / p->chunks, j0 = it % p->chunks * p->chunk_len;
    int64_t n = l->len - j0 < p->chunk_len ? l->len - j0 : p->chunk_len;
    char *ptrs[OML_LINES_MAX_OPS];
    for (int64_t r = 0; r < p->per_group; r++) {
      oml_lines_start(l, g * p->per_group + r, ptrs);
      for (int32_t i = 0; i < l->nops; i++) ptrs[i] += j0 * l->step[i];
      fn(ptrs, l->step, n, ctx);
    }
  }
}

/* ---- index checks ------------------------------------------------------------- */

int oml_cpu_find_bad_index(const oml_tensor *index, int64_t limit, int64_t *bad) {
  oml_lines l;
  const oml_tensor *ops[1] = {index};
  oml_lines_init(&l, 1, ops, index->ndim_, index->size_, index->ndim_ > 0 ? index->ndim_ - 1 : 0);
  if (l.len == 0) return 0;
  for (int64_t line = 0; line < l.count; line++) {
    char *p;
    oml_lines_start(&l, line, &p);
    for (int64_t j = 0; j < l.len; j++) {
      int64_t v = oml_load_index(p + j * l.step[0], index->dtype_);
      if (v < 1 || v > limit) {
        *bad = v;
        return 1;
      }
    }
  }
  return 0;
}

/* ---- gather ------------------------------------------------------------------- */

typedef struct gather_ctx {
  int64_t elsize, dim_stride; /* bytes between a's elements along dim */
  int32_t index_dtype;
} gather_ctx;

/* operands: out, index, a (whose step along dim is zeroed) */
static void gather_run(char **p, const int64_t *s, int64_t n, const void *ctx) {
  const gather_ctx *g = ctx;
  if (s[1] == 0) { /* one index for the run: a strided copy */
    const char *src = p[2] + (oml_load_index(p[1], g->index_dtype) - 1) * g->dim_stride;
    copy_run(p[0], s[0], src, s[2], n, g->elsize);
    return;
  }
  for (int64_t j = 0; j < n; j++) {
    int64_t v = oml_load_index(p[1] + j * s[1], g->index_dtype);
    oml_copy_elem(p[0] + j * s[0], p[2] + j * s[2] + (v - 1) * g->dim_stride, g->elsize);
  }
}

/* Zeroes the strides of operand i along dim, so that only the index moves
 * it there; the line dim is the last one. */
static void drop_dim(oml_lines *l, int32_t i, int32_t dim, int32_t ndim) {
  if (dim == ndim - 1) l->step[i] = 0;
  else l->outer_stride[i][dim] = 0;
}

void oml_cpu_gather(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim) {
  int32_t ndim = index->ndim_;
  if (index->numel_ == 0) return;
  oml_lines l;
  const oml_tensor *ops[3] = {out, index, a};
  oml_lines_init(&l, 3, ops, ndim, index->size_, ndim - 1);
  drop_dim(&l, 2, dim, ndim);
  gather_ctx g = {oml_dtype_size(a->dtype_), a->stride_[dim] * oml_dtype_size(a->dtype_), index->dtype_};
  plan p = make_plan(&l, 1, 1);
  run_plan(&l, &p, gather_run, &g);
}

/* ---- scatter ------------------------------------------------------------------ */

typedef struct scatter_ctx {
  int64_t elsize, dim_stride; /* bytes between dst's elements along dim */
  int32_t index_dtype, dtype, accumulate;
  scale alpha;
} scatter_ctx;

/* operands: dst (whose step along dim is zeroed), index, src */
static void scatter_run(char **p, const int64_t *s, int64_t n, const void *ctx) {
  const scatter_ctx *c = ctx;
  if (s[1] == 0) { /* one index for the run */
    char *dst = p[0] + (oml_load_index(p[1], c->index_dtype) - 1) * c->dim_stride;
    if (c->accumulate) add_run(c->dtype, dst, s[0], p[2], s[2], n, &c->alpha);
    else copy_run(dst, s[0], p[2], s[2], n, c->elsize);
    return;
  }
  for (int64_t j = 0; j < n; j++) {
    int64_t v = oml_load_index(p[1] + j * s[1], c->index_dtype);
    char *dst = p[0] + j * s[0] + (v - 1) * c->dim_stride;
    if (c->accumulate) add_run(c->dtype, dst, 0, p[2] + j * s[2], 0, 1, &c->alpha);
    else oml_copy_elem(dst, p[2] + j * s[2], c->elsize);
  }
}

void oml_cpu_scatter(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, int32_t accumulate,
                     double alpha) {
  int32_t ndim = index->ndim_;
  if (index->numel_ == 0) return;
  oml_lines l;
  const oml_tensor *ops[3] = {dst, index, src};
  oml_lines_init(&l, 3, ops, ndim, index->size_, ndim - 1);
  drop_dim(&l, 0, dim, ndim);
  int64_t elsize = oml_dtype_size(dst->dtype_);
  /* the caller checked that alpha is an integer for integer dtypes */
  int64_t int_alpha = oml_is_floating(dst->dtype_) ? 0 : (int64_t)alpha;
  scatter_ctx c = {elsize, dst->stride_[dim] * elsize, index->dtype_, dst->dtype_, accumulate, {alpha, int_alpha}};
  /* the lines that share the coordinates before dim form one group */
  int64_t per_group = 1;
  for (int32_t d = dim; d < ndim - 1; d++) per_group *= index->size_[d];
  plan p = make_plan(&l, per_group, dim != ndim - 1);
  run_plan(&l, &p, scatter_run, &c);
}

/* ---- masks -------------------------------------------------------------------- */

typedef struct fill_ctx { int64_t elsize; char value[8]; } fill_ctx;

/* operands: dst, mask */
static void masked_fill_loop(char **p, const int64_t *s, int64_t n, void *ctx) {
  const fill_ctx *c = ctx;
  for (int64_t j = 0; j < n; j++)
    if (p[1][j * s[1]]) oml_copy_elem(p[0] + j * s[0], c->value, c->elsize);
}

void oml_cpu_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value) {
  fill_ctx c;
  c.elsize = oml_dtype_size(dst->dtype_);
  oml_store(c.value, dst->dtype_, value);
  const oml_tensor *ops[2] = {dst, mask};
  oml_foreach(2, ops, masked_fill_loop, &c);
}

int64_t oml_cpu_count_true(const oml_tensor *mask) {
  oml_lines l;
  const oml_tensor *ops[1] = {mask};
  oml_lines_init(&l, 1, ops, mask->ndim_, mask->size_, mask->ndim_ > 0 ? mask->ndim_ - 1 : 0);
  int64_t count = 0;
  if (mask->numel_ == 0) return 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (oml_parallel_ok(mask->numel_))
  for (int64_t line = 0; line < l.count; line++) {
    char *p;
    oml_lines_start(&l, line, &p);
    for (int64_t j = 0; j < l.len; j++) count += p[j * l.step[0]] != 0;
  }
  return count;
}

void oml_cpu_masked_select(const oml_tensor *a, const oml_tensor *mask, oml_tensor *out) {
  if (a->numel_ == 0) return;
  oml_lines l;
  const oml_tensor *ops[2] = {a, mask};
  oml_lines_init(&l, 2, ops, a->ndim_, a->size_, a->ndim_ > 0 ? a->ndim_ - 1 : 0);
  int64_t elsize = oml_dtype_size(a->dtype_), so = out->ndim_ > 0 ? out->stride_[0] * elsize : 0;
  char *o = out->data_;
  for (int64_t line = 0; line < l.count; line++) {
    char *p[2];
    oml_lines_start(&l, line, p);
    for (int64_t j = 0; j < l.len; j++) {
      if (!p[1][j * l.step[1]]) continue;
      oml_copy_elem(o, p[0] + j * l.step[0], elsize);
      o += so;
    }
  }
}

void oml_cpu_nonzero(const oml_tensor *mask, oml_tensor *out) {
  int32_t ndim = mask->ndim_;
  int64_t coord[OML_MAX_DIMS] = {0}, row = 0;
  const uint8_t *m = (const uint8_t *)mask->data_;
  int64_t *o = (int64_t *)out->data_;
  for (int64_t i = 0; i < mask->numel_; i++) {
    if (m[i]) {
      for (int32_t d = 0; d < ndim; d++) o[row * out->stride_[0] + d * out->stride_[1]] = coord[d] + 1;
      row++;
    }
    for (int32_t d = ndim - 1; d >= 0 && ++coord[d] == mask->size_[d]; d--) coord[d] = 0;
  }
}
