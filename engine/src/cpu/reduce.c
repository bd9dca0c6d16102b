/* cpu/reduce.c — reductions, arg-extremes and cumulative sums on the CPU.
 *
 * A reduction splits the input's dims into kept dims (one output element per
 * position) and reduced dims. Both groups are coalesced, and the reduced
 * dims are ordered so that the one with the smallest stride is innermost.
 * Then one of two loops runs:
 * - rows: each output folds the runs along the innermost reduced dim
 *   (contiguous rows: layer norm, softmax, losses);
 * - columns: when the innermost kept dim steps through memory faster than the
 *   innermost reduced dim (a sum over the batch), a tile of up to TILE
 *   neighbouring outputs folds the input rows together, CHUNK columns at a
 *   time with their accumulators in registers, so loads stay contiguous.
 * Work is parallel over tiles of outputs. When there are few tiles and many
 * reduced elements, the reduced range is also cut into fixed blocks whose
 * partial results are merged in block order. Every choice depends on the
 * shape only, never on the thread count, so neither do the results.
 *
 * Kernels fold elements into accumulators: double for floating inputs (so
 * float32 sums are accumulated in double), int64 for integers (wrapping
 * around, as PyTorch) and for counts, (value, index) pairs for arg-extremes.
 */
#include "reduce.h"
#include "../core/reduce_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16         /* independent accumulators along a contiguous run, for SIMD */
#define CHUNK 16         /* columns whose accumulators stay in registers down a run of rows */
#define TILE 64          /* outputs per column tile */
#define BLOCK 16384      /* elements per block when the reduced range is split */
#define MAX_BLOCKS 1024
#define MIN_TILES 32     /* with fewer tiles than this, split the reduced range */
#define MIN_COLUMNS 4    /* narrower kept dims are folded as strided rows */

/* ---- kernels ------------------------------------------------------------ */

enum {
  K_SUM, K_PROD, K_MAX, K_MIN, K_COUNT, K_SUM_ABS, K_SUM_SQ, K_MAX_ABS, K_MIN_ABS, K_SUM_POW,
  K_SUM_EXP, K_SUM_SQDEV, K_ARGMAX, K_ARGMIN, NUM_KINDS
};

/* run folds n elements, s bytes apart from x, into acc[0]; cols folds n rows
 * (s bytes apart) of w columns (ws bytes apart) into acc[0..w). m holds one
 * shift per output (the max for logsumexp, the mean for var) or is NULL; p is
 * the norm's order; pos is the reduced index of x (for arg-extremes). */
typedef struct kernel {
  int64_t acc_bytes;
  void (*init)(void *acc, int64_t n);
  void (*merge)(void *acc, const void *later, int64_t n); /* acc[i] then later[i], for i < n */
  void (*run)(const char *x, int64_t n, int64_t s, void *acc, const double *m, double p, int64_t pos);
  void (*cols)(const char *x, int64_t w, int64_t ws, int64_t n, int64_t s, void *acc, const double *m, double p,
               int64_t pos);
} kernel;

/* STEP(a, x) folds element x into accumulator a; MERGE(a, b) folds the
 * accumulator b of later elements into a. A is the accumulator type, L the
 * type of the partial accumulators (lanes) inside a kernel: double for sums,
 * the input type for float max and min, which are exact in any type.
 * Contiguous runs use LANES lanes, which `omp simd` turns into SIMD registers
 * (without it GCC keeps the NaN-propagating max scalar); strided loops use 4,
 * to overlap the latency of the adds. */
#define KERNEL(NAME, T, A, L, INIT, STEP, MERGE, USES_M)                                          \
  static void NAME##_init(void *acc, int64_t n) {                                                 \
    A *a = acc;                                                                                   \
    for (int64_t i = 0; i < n; i++) a[i] = (INIT);                                                \
  }                                                                                               \
  static void NAME##_merge(void *acc, const void *later, int64_t n) {                             \
    A *a = acc;                                                                                   \
    const A *b = later;                                                                           \
    for (int64_t i = 0; i < n; i++) MERGE(a[i], b[i]);                                            \
  }                                                                                               \
  static void NAME##_run(const char *px, int64_t n, int64_t s, void *acc, const double *mp,      \
                         double p, int64_t pos) {                                                 \
    const double m = USES_M ? mp[0] : 0.0;                                                        \
    (void)m, (void)p, (void)pos;                                                                  \
    L l[LANES];                                                                                   \
    for (int k = 0; k < LANES; k++) l[k] = (INIT);                                                \
    int64_t i = 0;                                                                                \
    if (s == (int64_t)sizeof(T)) {                                                                \
      const T *x = (const T *)px;                                                                 \
      for (; i + LANES <= n; i += LANES)                                                          \
        _Pragma("omp simd") for (int k = 0; k < LANES; k++) STEP(l[k], x[i + k]);                 \
    } else {                                                                                      \
      for (; i + 4 <= n; i += 4)                                                                  \
        for (int k = 0; k < 4; k++) STEP(l[k], *(const T *)(px + (i + k) * s));                   \
    }                                                                                             \
    for (; i < n; i++) STEP(l[0], *(const T *)(px + i * s));                                      \
    for (int w = LANES / 2; w > 0; w /= 2)                                                        \
      for (int k = 0; k < w; k++) MERGE(l[k], l[k + w]);                                          \
    A r = *(A *)acc;                                                                              \
    MERGE(r, l[0]);                                                                               \
    *(A *)acc = r;                                                                                \
  }                                                                                               \
  static void NAME##_cols(const char *px, int64_t w, int64_t ws, int64_t n, int64_t s, void *acc, \
                          const double *mp, double p, int64_t pos) {                              \
    A *a = acc;                                                                                   \
    (void)mp, (void)p, (void)pos;                                                                 \
    int64_t j = 0;                                                                                \
    if (ws == (int64_t)sizeof(T))                                                                 \
      for (; j + CHUNK <= w; j += CHUNK) {                                                        \
        L l[CHUNK];                                                                               \
        double shift[CHUNK];                                                                      \
        for (int k = 0; k < CHUNK; k++) {                                                         \
          l[k] = (L)a[j + k];                                                                     \
          shift[k] = USES_M ? mp[j + k] : 0.0;                                                    \
        }                                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
          const T *x = (const T *)(px + i * s) + j;                                               \
          _Pragma("omp simd") for (int k = 0; k < CHUNK; k++) {                                   \
            const double m = shift[k];                                                            \
            (void)m;                                                                              \
            STEP(l[k], x[k]);                                                                     \
          }                                                                                       \
        }                                                                                         \
        for (int k = 0; k < CHUNK; k++) a[j + k] = l[k];                                          \
      }                                                                                           \
    for (; j < w; j++) { /* the rest, one column at a time */                                     \
      const double m = USES_M ? mp[j] : 0.0;                                                      \
      (void)m;                                                                                    \
      const char *col = px + j * ws;                                                              \
      L q[4] = {(INIT), (INIT), (INIT), (INIT)};                                                  \
      int64_t i = 0;                                                                              \
      for (; i + 4 <= n; i += 4)                                                                  \
        for (int k = 0; k < 4; k++) STEP(q[k], *(const T *)(col + (i + k) * s));                  \
      for (; i < n; i++) STEP(q[0], *(const T *)(col + i * s));                                   \
      MERGE(q[0], q[1]);                                                                          \
      MERGE(q[2], q[3]);                                                                          \
      MERGE(q[0], q[2]);                                                                          \
      MERGE(a[j], q[0]);                                                                          \
    }                                                                                             \
  }                                                                                               \
  static const kernel NAME = {sizeof(A), NAME##_init, NAME##_merge, NAME##_run, NAME##_cols};

/* NaN-propagating max and min in a's type, without branches (which would
 * keep the loops from vectorising) */
#define NAN_OR(a, y, CMP) do { __typeof__(a) y_ = (y); (a) = (((a) != (a)) | ((a) CMP y_)) ? (a) : y_; } while (0)

#define ADD(a, x) (a) += (double)(x)
#define MUL(a, x) (a) *= (double)(x)
#define MAX_NAN(a, x) NAN_OR(a, x, >)
#define MIN_NAN(a, x) NAN_OR(a, x, <)
#define COUNT(a, x) (a) += (x) != 0
#define PLUS(a, b) (a) += (b)
#define ADD_ABS(a, x) (a) += fabs((double)(x))
#define ADD_SQ(a, x) do { double v_ = (double)(x); (a) += v_ * v_; } while (0)
#define MAX_ABS(a, x) NAN_OR(a, fabs((double)(x)), >)
#define MIN_ABS(a, x) NAN_OR(a, fabs((double)(x)), <)
#define ADD_POW(a, x) (a) += oml_norm_term((double)(x), p)
/* logsumexp's terms: m is the max, so the argument is <= 0; float32 takes
 * the vectorisable oml_expf */
#define ADD_EXP(a, x) (a) += exp((double)(x) - m)
#define ADD_EXPF(a, x) (a) += oml_expf((float)((x) - m))
#define ADD_SQDEV(a, x) do { double d_ = (double)(x) - m; (a) += d_ * d_; } while (0)
#define IADD(a, x) (a) = (int64_t)((uint64_t)(a) + (uint64_t)(int64_t)(x))
#define IMUL(a, x) (a) = (int64_t)((uint64_t)(a) * (uint64_t)(int64_t)(x))
#define IMAX(a, x) (a) = (a) > (x) ? (a) : (x)
#define IMIN(a, x) (a) = (a) < (x) ? (a) : (x)

/* Arg-extremes keep the first extreme (and the first NaN, which beats every
 * number, as in PyTorch). i < 0 marks an accumulator that has seen nothing. */
typedef struct arg_f { double v; int64_t i; } arg_f;
typedef struct arg_i { int64_t v; int64_t i; } arg_i;

#define BEATS_MAX_F(x, b) oml_beats_max(x, b)
#define BEATS_MIN_F(x, b) oml_beats_min(x, b)
#define BEATS_MAX_I(x, b) ((x) > (b))
#define BEATS_MIN_I(x, b) ((x) < (b))
#define IS_NAN_F(x) ((x) != (x))
#define IS_NAN_I(x) 0

/* A contiguous run is searched in two passes: the extreme value with SIMD
 * lanes (EXTREME is MAX_NAN or the like), then its first position. */
#define ARG_KERNEL(NAME, T, A, BEATS, EXTREME, IS_NAN)                                            \
  static void NAME##_init(void *acc, int64_t n) {                                                 \
    A *a = acc;                                                                                   \
    for (int64_t i = 0; i < n; i++) { a[i].v = 0; a[i].i = -1; }                                  \
  }                                                                                               \
  static void NAME##_merge(void *acc, const void *later, int64_t n) {                             \
    A *a = acc;                                                                                   \
    const A *b = later;                                                                           \
    for (int64_t i = 0; i < n; i++)                                                               \
      if (b[i].i >= 0 && (a[i].i < 0 || BEATS(b[i].v, a[i].v))) a[i] = b[i];                      \
  }                                                                                               \
  static void NAME##_run(const char *px, int64_t n, int64_t s, void *acc, const double *mp,      \
                         double p, int64_t pos) {                                                 \
    (void)mp, (void)p;                                                                            \
    A best = {0, -1};                                                                             \
    if (s == (int64_t)sizeof(T) && n >= LANES) {                                                  \
      const T *x = (const T *)px;                                                                 \
      T l[LANES];                                                                                 \
      for (int k = 0; k < LANES; k++) l[k] = x[k];                                                \
      int64_t i = LANES;                                                                          \
      for (; i + LANES <= n; i += LANES)                                                          \
        _Pragma("omp simd") for (int k = 0; k < LANES; k++) EXTREME(l[k], x[i + k]);              \
      for (; i < n; i++) EXTREME(l[0], x[i]);                                                     \
      for (int w = LANES / 2; w > 0; w /= 2)                                                      \
        for (int k = 0; k < w; k++) EXTREME(l[k], l[k + w]);                                      \
      i = 0;                                                                                      \
      if (IS_NAN(l[0]))                                                                           \
        while (!IS_NAN(x[i])) i++;                                                                \
      else                                                                                        \
        while (x[i] != l[0]) i++;                                                                 \
      best.v = x[i];                                                                              \
      best.i = pos + i;                                                                           \
    } else {                                                                                      \
      for (int64_t i = 0; i < n; i++) {                                                           \
        T x = *(const T *)(px + i * s);                                                           \
        if (best.i < 0 || BEATS(x, best.v)) { best.v = x; best.i = pos + i; }                     \
      }                                                                                           \
    }                                                                                             \
    NAME##_merge(acc, &best, 1);                                                                  \
  }                                                                                               \
  static void NAME##_cols(const char *px, int64_t w, int64_t ws, int64_t n, int64_t s, void *acc, \
                          const double *mp, double p, int64_t pos) {                              \
    A *a = acc;                                                                                   \
    (void)mp, (void)p;                                                                            \
    for (int64_t i = 0; i < n; i++)                                                               \
      for (int64_t j = 0; j < w; j++) {                                                           \
        T x = *(const T *)(px + i * s + j * ws);                                                  \
        if (a[j].i < 0 || BEATS(x, a[j].v)) { a[j].v = x; a[j].i = pos + i; }                     \
      }                                                                                           \
  }                                                                                               \
  static const kernel NAME = {sizeof(A), NAME##_init, NAME##_merge, NAME##_run, NAME##_cols};

#define FLOAT_KERNELS(S, T, EXP)                                                                  \
  KERNEL(sum_##S, T, double, double, 0.0, ADD, ADD, 0)                                            \
  KERNEL(prod_##S, T, double, double, 1.0, MUL, MUL, 0)                                           \
  KERNEL(max_##S, T, double, T, -INFINITY, MAX_NAN, MAX_NAN, 0)                                   \
  KERNEL(min_##S, T, double, T, INFINITY, MIN_NAN, MIN_NAN, 0)                                    \
  KERNEL(count_##S, T, int64_t, int64_t, 0, COUNT, PLUS, 0)                                       \
  KERNEL(sum_abs_##S, T, double, double, 0.0, ADD_ABS, ADD, 0)                                    \
  KERNEL(sum_sq_##S, T, double, double, 0.0, ADD_SQ, ADD, 0)                                      \
  KERNEL(max_abs_##S, T, double, double, 0.0, MAX_ABS, MAX_NAN, 0)                                \
  KERNEL(min_abs_##S, T, double, double, INFINITY, MIN_ABS, MIN_NAN, 0)                           \
  KERNEL(sum_pow_##S, T, double, double, 0.0, ADD_POW, ADD, 0)                                    \
  KERNEL(sum_exp_##S, T, double, double, 0.0, EXP, ADD, 1)                                        \
  KERNEL(sum_sqdev_##S, T, double, double, 0.0, ADD_SQDEV, ADD, 1)                                \
  ARG_KERNEL(argmax_##S, T, arg_f, BEATS_MAX_F, MAX_NAN, IS_NAN_F)                                \
  ARG_KERNEL(argmin_##S, T, arg_f, BEATS_MIN_F, MIN_NAN, IS_NAN_F)                                \
  static const kernel *const kernels_##S[NUM_KINDS] = {                                           \
      [K_SUM] = &sum_##S, [K_PROD] = &prod_##S, [K_MAX] = &max_##S, [K_MIN] = &min_##S,           \
      [K_COUNT] = &count_##S, [K_SUM_ABS] = &sum_abs_##S, [K_SUM_SQ] = &sum_sq_##S,               \
      [K_MAX_ABS] = &max_abs_##S, [K_MIN_ABS] = &min_abs_##S, [K_SUM_POW] = &sum_pow_##S,         \
      [K_SUM_EXP] = &sum_exp_##S, [K_SUM_SQDEV] = &sum_sqdev_##S, [K_ARGMAX] = &argmax_##S,       \
      [K_ARGMIN] = &argmin_##S};

/* Integers need no float-valued kernels: those reductions convert them to
 * float64 first (see ops/reduce.c). */
#define INT_KERNELS(S, T)                                                                         \
  KERNEL(sum_##S, T, int64_t, int64_t, 0, IADD, IADD, 0)                                          \
  KERNEL(prod_##S, T, int64_t, int64_t, 1, IMUL, IMUL, 0)                                         \
  KERNEL(max_##S, T, int64_t, int64_t, INT64_MIN, IMAX, IMAX, 0)                                  \
  KERNEL(min_##S, T, int64_t, int64_t, INT64_MAX, IMIN, IMIN, 0)                                  \
  KERNEL(count_##S, T, int64_t, int64_t, 0, COUNT, PLUS, 0)                                       \
  ARG_KERNEL(argmax_##S, T, arg_i, BEATS_MAX_I, IMAX, IS_NAN_I)                                   \
  ARG_KERNEL(argmin_##S, T, arg_i, BEATS_MIN_I, IMIN, IS_NAN_I)                                   \
  static const kernel *const kernels_##S[NUM_KINDS] = {                                           \
      [K_SUM] = &sum_##S, [K_PROD] = &prod_##S, [K_MAX] = &max_##S, [K_MIN] = &min_##S,           \
      [K_COUNT] = &count_##S, [K_ARGMAX] = &argmax_##S, [K_ARGMIN] = &argmin_##S};

FLOAT_KERNELS(f32, float, ADD_EXPF)
FLOAT_KERNELS(f64, double, ADD_EXP)
INT_KERNELS(i32, int32_t)
INT_KERNELS(i64, int64_t)
INT_KERNELS(u8, uint8_t)

/* The one dtype switch: bool values are 0 and 1, so uint8 kernels serve them. */
static const kernel *find_kernel(int32_t kind, int32_t dtype) {
  switch (dtype) {
  case OML_FLOAT32: return kernels_f32[kind];
  case OML_FLOAT64: return kernels_f64[kind];
  case OML_INT32: return kernels_i32[kind];
  case OML_INT64: return kernels_i64[kind];
  case OML_UINT8: case OML_BOOL: return kernels_u8[kind];
  default: return NULL;
  }
}

/* ---- geometry ----------------------------------------------------------- */

typedef struct geometry {
  int32_t nkeep, nred;
  int64_t keep_size[OML_MAX_DIMS], keep_stride[OML_MAX_DIMS]; /* strides in bytes */
  int64_t red_size[OML_MAX_DIMS], red_stride[OML_MAX_DIMS];   /* smallest stride last */
  int64_t outputs, reduced;                                   /* element counts */
} geometry;

/* Appends a dim, merged into the previous one when together they step
 * through memory as one dim; size-1 dims are dropped. */
static void push_dim(int32_t *n, int64_t *size, int64_t *stride, int64_t sz, int64_t st) {
  if (sz == 1) return;
  if (*n > 0 && stride[*n - 1] == st * sz) {
    size[*n - 1] *= sz;
    stride[*n - 1] = st;
    return;
  }
  size[*n] = sz;
  stride[*n] = st;
  (*n)++;
}

static void make_geometry(const oml_tensor *a, uint32_t mask, geometry *g) {
  int64_t el = oml_dtype_size(a->dtype_);
  int32_t order[OML_MAX_DIMS], nr = 0;
  g->nkeep = g->nred = 0;
  g->outputs = g->reduced = 1;
  for (int32_t d = 0; d < a->ndim_; d++) {
    if (mask >> d & 1) {
      order[nr++] = d;
      g->reduced *= a->size_[d];
    } else {
      push_dim(&g->nkeep, g->keep_size, g->keep_stride, a->size_[d], a->stride_[d] * el);
      g->outputs *= a->size_[d];
    }
  }
  /* the reduced dims from the largest stride to the smallest (a stable insertion sort) */
  for (int32_t i = 1; i < nr; i++)
    for (int32_t j = i; j > 0 && llabs(a->stride_[order[j - 1]]) < llabs(a->stride_[order[j]]); j--) {
      int32_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (int32_t i = 0; i < nr; i++)
    push_dim(&g->nred, g->red_size, g->red_stride, a->size_[order[i]], a->stride_[order[i]] * el);
}

/* ---- the driver --------------------------------------------------------- */

/* How the outputs are cut into tiles: the tile dims are the kept dims, or for
 * column tiles the kept dims but the innermost, then the tiles along it. */
typedef struct plan {
  const geometry *g;
  const kernel *k;
  const char *base;
  const double *m;
  double p;
  int columns;
  int64_t row, row_stride;    /* columns: the innermost kept dim's size and byte stride */
  int32_t ndim;
  int64_t size[OML_MAX_DIMS], in_stride[OML_MAX_DIMS], out_stride[OML_MAX_DIMS];
  int64_t ntiles;
} plan;

typedef struct cursor {
  int64_t idx[OML_MAX_DIMS];
  int64_t in;   /* byte offset of the tile's first element */
  int64_t out;  /* index of the tile's first output */
} cursor;

static void make_plan(const geometry *g, const kernel *k, const char *base, const double *m, double p, plan *pl) {
  pl->g = g;
  pl->k = k;
  pl->base = base;
  pl->m = m;
  pl->p = p;
  int32_t nk = g->nkeep, nr = g->nred;
  pl->columns = nk > 0 && nr > 0 && g->keep_size[nk - 1] >= MIN_COLUMNS &&
                llabs(g->keep_stride[nk - 1]) < llabs(g->red_stride[nr - 1]);
  int64_t out_stride = 1;
  for (int32_t d = nk - 1; d >= 0; d--) {
    pl->size[d] = g->keep_size[d];
    pl->in_stride[d] = g->keep_stride[d];
    pl->out_stride[d] = out_stride;
    out_stride *= g->keep_size[d];
  }
  pl->ndim = nk;
  if (pl->columns) {
    pl->row = g->keep_size[nk - 1];
    pl->row_stride = g->keep_stride[nk - 1];
    pl->size[nk - 1] = (pl->row + TILE - 1) / TILE;
    pl->in_stride[nk - 1] = TILE * pl->row_stride;
    pl->out_stride[nk - 1] = TILE;
  }
  pl->ntiles = 1;
  for (int32_t d = 0; d < pl->ndim; d++) pl->ntiles *= pl->size[d];
}

static void seek(const plan *pl, int64_t tile, cursor *c) {
  c->in = c->out = 0;
  for (int32_t d = pl->ndim - 1; d >= 0; d--) {
    c->idx[d] = tile % pl->size[d];
    tile /= pl->size[d];
    c->in += c->idx[d] * pl->in_stride[d];
    c->out += c->idx[d] * pl->out_stride[d];
  }
}

static void next_tile(const plan *pl, cursor *c) {
  for (int32_t d = pl->ndim - 1; d >= 0; d--) {
    c->idx[d]++;
    c->in += pl->in_stride[d];
    c->out += pl->out_stride[d];
    if (c->idx[d] < pl->size[d]) return;
    c->in -= pl->size[d] * pl->in_stride[d];
    c->out -= pl->size[d] * pl->out_stride[d];
    c->idx[d] = 0;
  }
}

static int64_t tile_width(const plan *pl, const cursor *c) {
  if (!pl->columns) return 1;
  int64_t left = pl->row - c->idx[pl->ndim - 1] * TILE;
  return left < TILE ? left : TILE;
}

/* Folds the reduced elements [r0, r1) (in the reduced dims' row-major order)
 * of the tile at c into acc. */
static void fold_range(const plan *pl, const cursor *c, int64_t r0, int64_t r1, char *acc) {
  const geometry *g = pl->g;
  const kernel *k = pl->k;
  const char *base = pl->base + c->in;
  const double *m = pl->m ? pl->m + c->out : NULL;
  int64_t width = tile_width(pl, c);
  if (g->nred == 0) { /* every reduced dim has size 1 */
    if (pl->columns) k->cols(base, width, pl->row_stride, 1, 0, acc, m, pl->p, 0);
    else k->run(base, 1, 0, acc, m, pl->p, 0);
    return;
  }
  int32_t inner = g->nred - 1;
  int64_t idx[OML_MAX_DIMS] = {0}, rest = r0, off = 0;
  for (int32_t d = inner; d >= 0 && rest > 0; d--) {
    idx[d] = rest % g->red_size[d];
    rest /= g->red_size[d];
    off += idx[d] * g->red_stride[d];
  }
  int64_t s = g->red_stride[inner];
  for (int64_t pos = r0; pos < r1;) {
    int64_t run = g->red_size[inner] - idx[inner];
    if (run > r1 - pos) run = r1 - pos;
    if (pl->columns) k->cols(base + off, width, pl->row_stride, run, s, acc, m, pl->p, pos);
    else k->run(base + off, run, s, acc, m, pl->p, pos);
    pos += run;
    idx[inner] += run;
    off += run * s;
    for (int32_t d = inner; d > 0 && idx[d] == g->red_size[d]; d--) {
      off += g->red_stride[d - 1] - g->red_size[d] * g->red_stride[d];
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

/* Folds the reduced elements of every output of a into acc, one accumulator
 * per output in row-major order of the kept dims. */
static int fold(const oml_tensor *a, const geometry *g, int32_t kind, void *acc, const double *m, double p) {
  const kernel *k = find_kernel(kind, a->dtype_);
  if (k == NULL) return oml_error("this reduction is not defined for %s", oml_dtype_name(a->dtype_));
  int64_t nout = g->outputs, nred = g->reduced;
  if (nout == 0 || nred == 0) {
    k->init(acc, nout);
    return 0;
  }
  plan pl;
  make_plan(g, k, a->data_, m, p, &pl);
  int par = oml_parallel_ok(nout * nred);
  int64_t width = pl.columns ? (pl.row < TILE ? pl.row : TILE) : 1;
  int64_t block = (BLOCK + width - 1) / width;
  if (block < (nred + MAX_BLOCKS - 1) / MAX_BLOCKS) block = (nred + MAX_BLOCKS - 1) / MAX_BLOCKS;
  int64_t nblocks = (nred + block - 1) / block;
  if (pl.ntiles < MIN_TILES && nblocks > 1) {
    int64_t bytes = nblocks * nout * k->acc_bytes;
    char *part = oml_alloc(bytes, OML_CPU);
    if (part == NULL) return -1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t task = 0; task < pl.ntiles * nblocks; task++) {
      int64_t b = task % nblocks, r0 = b * block, r1 = r0 + block < nred ? r0 + block : nred;
      cursor c;
      seek(&pl, task / nblocks, &c);
      char *pa = part + (b * nout + c.out) * k->acc_bytes;
      k->init(pa, tile_width(&pl, &c));
      fold_range(&pl, &c, r0, r1, pa);
    }
    k->init(acc, nout);
    for (int64_t b = 0; b < nblocks; b++) k->merge(acc, part + b * nout * k->acc_bytes, nout);
    oml_free(part, bytes, OML_CPU);
    return 0;
  }
  /* consecutive tiles in groups, so that a thread steps from tile to tile */
  int64_t group = (pl.ntiles + 1023) / 1024, ngroups = (pl.ntiles + group - 1) / group;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t gi = 0; gi < ngroups; gi++) {
    int64_t t1 = (gi + 1) * group < pl.ntiles ? (gi + 1) * group : pl.ntiles;
    cursor c;
    seek(&pl, gi * group, &c);
    for (int64_t t = gi * group; t < t1; t++) {
      char *pa = (char *)acc + c.out * k->acc_bytes;
      k->init(pa, tile_width(&pl, &c));
      fold_range(&pl, &c, 0, nred, pa);
      next_tile(&pl, &c);
    }
  }
  return 0;
}

/* ---- results ------------------------------------------------------------ */

#define STORE_LOOP(T, EXPR)                                                                       \
  do {                                                                                            \
    T *o_ = (T *)out->data_;                                                                      \
    _Pragma("omp parallel for if (par)") for (int64_t i = 0; i < n; i++) o_[i] = (T)(EXPR);       \
  } while (0)

/* out (contiguous) = v, converted to out's dtype: float32 or float64 for
 * double accumulators, any dtype for int64 ones */
static void store_doubles(oml_tensor *out, const double *v) {
  int64_t n = out->numel_;
  int par = oml_parallel_ok(n);
  if (out->dtype_ == OML_FLOAT32) STORE_LOOP(float, v[i]);
  else STORE_LOOP(double, v[i]);
}

static void store_ints(oml_tensor *out, const int64_t *v) {
  int64_t n = out->numel_;
  int par = oml_parallel_ok(n);
  switch (out->dtype_) {
  case OML_FLOAT32: STORE_LOOP(float, v[i]); break;
  case OML_FLOAT64: STORE_LOOP(double, v[i]); break;
  case OML_INT32: STORE_LOOP(int32_t, v[i]); break;
  case OML_INT64: STORE_LOOP(int64_t, v[i]); break;
  case OML_UINT8: STORE_LOOP(uint8_t, v[i]); break;
  default: STORE_LOOP(uint8_t, v[i] != 0); break; /* bool */
  }
}

/* The last step of a float-valued reduction, on each output's accumulator. */
enum { F_DIV, F_SQRT_DIV, F_LOG_ADD, F_SQRT, F_ROOT };

static void finish(double *v, int64_t n, int32_t how, double arg, const double *m) {
#pragma omp parallel for if (oml_parallel_ok(n))
  for (int64_t i = 0; i < n; i++) {
    switch (how) {
    case F_DIV: v[i] /= arg; break;
    case F_SQRT_DIV: v[i] = sqrt(v[i] / arg); break;
    case F_LOG_ADD: v[i] = oml_lse_finish(v[i], m[i]); break; /* m: the max */
    case F_SQRT: v[i] = sqrt(v[i]); break;
    default: v[i] = pow(v[i], 1.0 / arg); break; /* F_ROOT */
    }
  }
}

/* One accumulator per output: 8 bytes (a double or an int64), or 16 for the
 * (value, index) pairs of arg-extremes. */
static void *accumulators(const geometry *g, int64_t bytes) {
  return oml_alloc((g->outputs > 0 ? g->outputs : 1) * bytes, OML_CPU);
}

static void release(void *acc, const geometry *g, int64_t bytes) {
  oml_free(acc, (g->outputs > 0 ? g->outputs : 1) * bytes, OML_CPU);
}

static int acc_is_int(int32_t kind, int32_t dtype) { return kind == K_COUNT || !oml_is_floating(dtype); }

/* logsumexp's first pass: the max of each output, and the shift for the
 * exp() terms (the max where it is finite; where it is not, the max is the
 * result and the terms are not used). */
static int lse_shift(const oml_tensor *a, const geometry *g, double *max, double *shift) {
  if (fold(a, g, K_MAX, max, NULL, 0)) return -1;
  for (int64_t i = 0; i < g->outputs; i++) shift[i] = oml_lse_shift(max[i]);
  return 0;
}

int oml_cpu_reduce(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t mask) {
  static const int32_t kinds[OML_NUM_REDUCE] = {
      [OML_SUM] = K_SUM, [OML_MEAN] = K_SUM, [OML_PROD] = K_PROD, [OML_AMAX] = K_MAX, [OML_AMIN] = K_MIN,
      [OML_ALL] = K_COUNT, [OML_ANY] = K_COUNT, [OML_LOGSUMEXP] = K_SUM_EXP};
  geometry g;
  make_geometry(a, mask, &g);
  int32_t kind = kinds[op];
  void *acc = accumulators(&g, 8), *max = NULL, *shift = NULL;
  int rc = acc == NULL ? -1 : 0;
  if (rc == 0 && op == OML_LOGSUMEXP) {
    max = accumulators(&g, 8);
    shift = accumulators(&g, 8);
    rc = max == NULL || shift == NULL ? -1 : lse_shift(a, &g, max, shift);
  }
  if (rc == 0) rc = fold(a, &g, kind, acc, shift, 0);
  if (rc == 0) {
    if (acc_is_int(kind, a->dtype_)) {
      int64_t *v = acc;
      if (op == OML_ALL || op == OML_ANY)
        for (int64_t i = 0; i < g.outputs; i++) v[i] = op == OML_ALL ? v[i] == g.reduced : v[i] > 0;
      store_ints(out, v);
    } else {
      if (op == OML_MEAN) finish(acc, g.outputs, F_DIV, (double)g.reduced, NULL);
      if (op == OML_LOGSUMEXP) finish(acc, g.outputs, F_LOG_ADD, 0, max);
      store_doubles(out, acc);
    }
  }
  if (shift) release(shift, &g, 8);
  if (max) release(max, &g, 8);
  if (acc) release(acc, &g, 8);
  return rc;
}

int oml_cpu_var(const oml_tensor *a, oml_tensor *out, uint32_t mask, int32_t correction, int32_t take_sqrt) {
  geometry g;
  make_geometry(a, mask, &g);
  double *mean = accumulators(&g, 8), *acc = accumulators(&g, 8);
  int rc = mean == NULL || acc == NULL ? -1 : fold(a, &g, K_SUM, mean, NULL, 0);
  if (rc == 0) {
    finish(mean, g.outputs, F_DIV, (double)g.reduced, NULL);
    rc = fold(a, &g, K_SUM_SQDEV, acc, mean, 0);
  }
  if (rc == 0) {
    /* PyTorch's divisor: never negative, so too few elements give inf or NaN */
    double divisor = fmax((double)g.reduced - correction, 0.0);
    finish(acc, g.outputs, take_sqrt ? F_SQRT_DIV : F_DIV, divisor, NULL);
    store_doubles(out, acc);
  }
  if (mean) release(mean, &g, 8);
  if (acc) release(acc, &g, 8);
  return rc;
}

int oml_cpu_norm(const oml_tensor *a, oml_tensor *out, uint32_t mask, double p) {
  geometry g;
  make_geometry(a, mask, &g);
  int32_t kind = p == 2 ? K_SUM_SQ : p == 1 ? K_SUM_ABS : p == 0 ? K_COUNT
               : p == INFINITY ? K_MAX_ABS : p == -INFINITY ? K_MIN_ABS : K_SUM_POW;
  void *acc = accumulators(&g, 8);
  int rc = acc == NULL ? -1 : fold(a, &g, kind, acc, NULL, p);
  if (rc == 0) {
    if (kind == K_COUNT) {
      store_ints(out, acc);
    } else {
      if (kind == K_SUM_SQ) finish(acc, g.outputs, F_SQRT, 0, NULL);
      if (kind == K_SUM_POW) finish(acc, g.outputs, F_ROOT, p, NULL);
      store_doubles(out, acc);
    }
  }
  if (acc) release(acc, &g, 8);
  return rc;
}

/* ---- max and min along a dim, with indices ------------------------------ */

#define ARG_STORE(T, PAIR)                                                                        \
  do {                                                                                            \
    const PAIR *r = acc;                                                                          \
    T *vo = values ? (T *)values->data_ : NULL;                                                   \
    int64_t *io = indices ? (int64_t *)indices->data_ : NULL;                                     \
    _Pragma("omp parallel for if (par)") for (int64_t i = 0; i < n; i++) {                        \
      if (vo) vo[i] = (T)r[i].v;                                                                  \
      if (io) io[i] = r[i].i + 1;                                                                 \
    }                                                                                             \
  } while (0)

int oml_cpu_max_dim(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t is_min) {
  geometry g;
  make_geometry(a, a->ndim_ > 0 ? 1u << dim : 0, &g);
  void *acc = accumulators(&g, sizeof(arg_f));
  int rc = acc == NULL ? -1 : fold(a, &g, is_min ? K_ARGMIN : K_ARGMAX, acc, NULL, 0);
  if (rc == 0) {
    int64_t n = g.outputs;
    int par = oml_parallel_ok(n);
    switch (a->dtype_) {
    case OML_FLOAT32: ARG_STORE(float, arg_f); break;
    case OML_FLOAT64: ARG_STORE(double, arg_f); break;
    case OML_INT32: ARG_STORE(int32_t, arg_i); break;
    case OML_INT64: ARG_STORE(int64_t, arg_i); break;
    default: ARG_STORE(uint8_t, arg_i); break; /* uint8, bool */
    }
  }
  if (acc) release(acc, &g, sizeof(arg_f));
  return rc;
}

/* ---- cumulative sums and products --------------------------------------- */

#define CUM_TILE 256

/* A contiguous a seen as [outer, n, inner], scanned along n. Each line is
 * scanned in order by one thread, so the result does not depend on the
 * thread count; lines with inner > 1 are scanned a tile of lines at a time
 * so that loads stay contiguous. */
#define CUM_KERNEL(NAME, T, A, INIT, STEP)                                                        \
  static void NAME(const T *x, T *y, int64_t outer, int64_t n, int64_t inner, int par) {          \
    if (inner == 1) {                                                                             \
      _Pragma("omp parallel for schedule(static) if (par)") for (int64_t o = 0; o < outer; o++) { \
        A acc = (INIT);                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                         \
          STEP(acc, x[o * n + i]);                                                                \
          y[o * n + i] = (T)acc;                                                                  \
        }                                                                                         \
      }                                                                                           \
      return;                                                                                     \
    }                                                                                             \
    int64_t tiles = (inner + CUM_TILE - 1) / CUM_TILE;                                            \
    _Pragma("omp parallel for schedule(static) if (par)") for (int64_t t = 0; t < outer * tiles; t++) { \
      int64_t o = t / tiles, j0 = t % tiles * CUM_TILE;                                           \
      int64_t w = inner - j0 < CUM_TILE ? inner - j0 : CUM_TILE;                                  \
      A acc[CUM_TILE];                                                                            \
      for (int64_t j = 0; j < w; j++) acc[j] = (INIT);                                            \
      for (int64_t i = 0; i < n; i++) {                                                           \
        const T *xr = x + (o * n + i) * inner + j0;                                               \
        T *yr = y + (o * n + i) * inner + j0;                                                     \
        for (int64_t j = 0; j < w; j++) {                                                         \
          STEP(acc[j], xr[j]);                                                                    \
          yr[j] = (T)acc[j];                                                                      \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

CUM_KERNEL(cumsum_f32, float, double, 0.0, ADD)
CUM_KERNEL(cumsum_f64, double, double, 0.0, ADD)
CUM_KERNEL(cumsum_i64, int64_t, int64_t, 0, IADD)
CUM_KERNEL(cumprod_f32, float, double, 1.0, MUL)
CUM_KERNEL(cumprod_f64, double, double, 1.0, MUL)
CUM_KERNEL(cumprod_i64, int64_t, int64_t, 1, IMUL)

void oml_cpu_cumulate(const oml_tensor *a, oml_tensor *out, int32_t dim, int32_t is_prod) {
  int64_t outer = 1, n = 1, inner = 1;
  for (int32_t d = 0; d < a->ndim_; d++) {
    if (d < dim) outer *= a->size_[d];
    else if (d == dim) n = a->size_[d];
    else inner *= a->size_[d];
  }
  if (a->numel_ == 0) return;
  int par = oml_parallel_ok(a->numel_);
  switch (a->dtype_) {
  case OML_FLOAT32:
    (is_prod ? cumprod_f32 : cumsum_f32)((const float *)a->data_, (float *)out->data_, outer, n, inner, par);
    break;
  case OML_FLOAT64:
    (is_prod ? cumprod_f64 : cumsum_f64)((const double *)a->data_, (double *)out->data_, outer, n, inner, par);
    break;
  default: /* int64 */
    (is_prod ? cumprod_i64 : cumsum_i64)((const int64_t *)a->data_, (int64_t *)out->data_, outer, n, inner, par);
    break;
  }
}
