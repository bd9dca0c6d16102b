/* cpu/knn.c — exact k-NN: a block of queries times a block of gallery rows
 * through one GEMM, then a partial top-k selection per query that carries
 * over from one gallery block to the next.
 *
 * Ranking. ||q - g||^2 = ||q||^2 + s with s = ||g||^2 - 2 q.g, and ||q||^2 is
 * fixed along a query's row, so the row is ranked by s: the GEMM gives
 * -2 q.g, one add gives s, one compare with the row's threshold turns away
 * nearly every item. The order is (distance as the output dtype holds it,
 * gallery index). s is rounded monotonically and the distance does not
 * decrease with s, so an item whose s exceeds that of the k-th best so far
 * is at least as far and, coming later, loses the tie: it can never enter.
 * Items at or below the threshold go to a buffer of 2k entries; a full
 * buffer is cut back to its best k by quickselect, and the k-th best's s
 * becomes the threshold. A cut frees k entries, so selection costs O(1) per
 * accepted item for any k.
 *
 * Threads. Query blocks go to OpenMP threads, each with its own buffers. The
 * GEMMs inside run on the calling thread (OpenBLAS's own threads are held at
 * 1 during the search), so each product has the same shape, and the same
 * result, whatever the thread count. */
#include "knn.h"

#include <cblas.h>
#include <float.h>
#include <omp.h>
#include <stdlib.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

/* OpenBLAS's thread controls; declared here since cblas.h does not carry them everywhere. */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);

/* Defaults tuned on 10k x 100k x 128 float32, top 10, on 2 cores
 * (bench/knn.lua): a float32 product block of 1 MiB, as large as L2, which
 * the scan reads back at once; 256 to 1024 rows on either side are within
 * 10% of it. */
#define DEFAULT_QUERY_BLOCK 512
#define DEFAULT_GALLERY_BLOCK 512
/* With the default, fewer queries still split into this many blocks (for
 * the threads), of at least MIN_QUERY_BLOCK rows (for the GEMM). */
#define MIN_QUERY_BLOCKS 16
#define MIN_QUERY_BLOCK 32
/* Larger blocks are taken as this many rows: the buffers' sizes then fit int64. */
#define MAX_BLOCK ((int64_t)1 << 20)
/* One thread's selection buffers stay below this; a large k gets fewer rows per query block. */
#define SELECTION_BYTES ((int64_t)32 << 20)
/* The scan tests this many items at once before looking at any one of them. */
#define SCAN_CHUNK 32

typedef struct entry {
  double dist; /* as the output dtype holds it */
  double s;    /* the ranking key, as the scan computed it */
  int64_t j;   /* 0-based gallery row */
} entry;

typedef struct row_state {
  entry *buf;
  int64_t n;    /* entries in buf */
  double thr;   /* s of the k-th best at the last cut; +inf before */
  double qn;    /* the query's squared norm */
  int64_t self; /* the gallery row to skip, or -1 */
  int64_t seq;  /* the query's sequence id (when there are sequences) */
} row_state;

typedef struct search {
  const oml_knn_problem *p;
  int single;           /* float32 */
  int64_t nq, ng, d;
  int64_t k;            /* min(k, ng): what a row can hold */
  int64_t cap;          /* entries per row buffer */
  int64_t qb, gb;       /* block rows */
  int64_t ldq, ldg;     /* row strides */
  const double *qn;     /* [nq] squared norms */
  const void *gn;       /* [ng] squared norms in the dtype */
  int64_t c_bytes, states_bytes, per_thread; /* one thread's workspace */
} search;

/* ---- selection ------------------------------------------------------------ */

static inline int before(const entry *a, const entry *b) {
  return a->dist < b->dist || (a->dist == b->dist && a->j < b->j);
}

static inline void swap_entries(entry *e, int64_t a, int64_t b) {
  entry t = e[a];
  e[a] = e[b];
  e[b] = t;
}

/* Puts at e[nth] the entry a full sort would put there, with none after it
 * before it (quickselect, median-of-three pivots; keys are distinct). */
static void select_nth(entry *e, int64_t n, int64_t nth) {
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    int64_t mid = lo + (hi - lo) / 2;
    if (before(&e[mid], &e[lo])) swap_entries(e, mid, lo);
    if (before(&e[hi], &e[lo])) swap_entries(e, hi, lo);
    if (before(&e[mid], &e[hi])) swap_entries(e, mid, hi); /* e[hi] is now the median of the three */
    int64_t store = lo;
    for (int64_t i = lo; i < hi; i++)
      if (before(&e[i], &e[hi])) swap_entries(e, i, store++);
    swap_entries(e, store, hi);
    if (store == nth) return;
    if (store < nth) lo = store + 1;
    else hi = store - 1;
  }
}

static int compare_entries(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return before(x, y) ? -1 : before(y, x);
}

/* Keeps the best k entries; the k-th best's key becomes the threshold. */
static void cut(row_state *st, int64_t k) {
  select_nth(st->buf, st->n, k - 1);
  st->n = k;
  st->thr = st->buf[k - 1].s;
}

/* The scan's rare path: gallery row j passed the threshold with key s
 * (s_exact, the same key before rounding to the dtype, gives the distance). */
static void offer(const search *sr, row_state *st, double s, double s_exact, int64_t j) {
  if (j == st->self) return;
  if (sr->p->gallery_sequence != NULL && sr->p->gallery_sequence[j] == st->seq) return;
  double dist = oml_knn_distance(st->qn, s_exact);
  entry *e = &st->buf[st->n++];
  e->dist = sr->single ? (double)(float)dist : dist;
  e->s = s;
  e->j = j;
  if (st->n == sr->cap && st->n > sr->k) cut(st, sr->k);
}

/* 256-bit vectors (GCC's vector extensions: AVX2 where the target has it)
 * for the scan's first pass, and the compare masks they give. */
typedef float f32x8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t mask32x8 __attribute__((vector_size(32)));
typedef double f64x4 __attribute__((vector_size(32), aligned(8), may_alias));
typedef int64_t mask64x4 __attribute__((vector_size(32)));

/* 1 when a lane of a compare mask is set: one vptest with AVX */
static inline int any_lane(mask32x8 mask) {
#ifdef __AVX__
  return !_mm256_testz_si256((__m256i)mask, (__m256i)mask);
#else
  int any = 0;
  for (int l = 0; l < 8; l++) any |= mask[l] != 0;
  return any;
#endif
}

/* Offers the items of one gallery block (rows j0.., nb of them) to a query's
 * row, given m = -2 q.g and the gallery's squared norms gn for the block.
 * A chunk is first tested whole in vectors; nearly every chunk stops there. */
#define SCAN(NAME, T, V, MASK)                                                                  \
  static void NAME(const search *sr, row_state *st, const T *m, const T *gn, int64_t nb, int64_t j0) { \
    enum { LANES = sizeof(V) / sizeof(T) };                                                     \
    T thr = (T)st->thr;                                                                         \
    V thrv = (V){0} + thr;                                                                      \
    int64_t j = 0;                                                                              \
    for (; j + SCAN_CHUNK <= nb; j += SCAN_CHUNK) {                                             \
      MASK hit = {0};                                                                           \
      for (int v = 0; v < SCAN_CHUNK / LANES; v++)                                              \
        hit |= *(const V *)(m + j + v * LANES) + *(const V *)(gn + j + v * LANES) <= thrv;      \
      if (!any_lane((mask32x8)hit)) continue;                                                   \
      for (int t = 0; t < SCAN_CHUNK; t++) {                                                    \
        T s = m[j + t] + gn[j + t];                                                             \
        if (s <= thr) {                                                                         \
          offer(sr, st, s, (double)m[j + t] + (double)gn[j + t], j0 + j + t);                   \
          thr = (T)st->thr;                                                                     \
          thrv = (V){0} + thr;                                                                  \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    for (; j < nb; j++) {                                                                       \
      T s = m[j] + gn[j];                                                                       \
      if (s <= thr) {                                                                           \
        offer(sr, st, s, (double)m[j] + (double)gn[j], j0 + j);                                 \
        thr = (T)st->thr;                                                                       \
      }                                                                                         \
    }                                                                                           \
  }
SCAN(scan_f32, float, f32x8, mask32x8)
SCAN(scan_f64, double, f64x4, mask64x4)

/* ---- one query block ------------------------------------------------------ */

/* c[r, j] = -2 q_(i0+r) . g_(j0+j) for rows x nb items, c contiguous. */
static void products(const search *sr, int64_t i0, int64_t rows, int64_t j0, int64_t nb, void *c) {
  const oml_tensor *q = sr->p->queries, *g = sr->p->gallery;
  if (sr->d == 0) {
    memset(c, 0, (size_t)(rows * nb) * (sr->single ? sizeof(float) : sizeof(double)));
    return;
  }
  int m = (int)rows, n = (int)nb, k = (int)sr->d, lda = (int)sr->ldq, ldb = (int)sr->ldg;
  if (sr->single)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, -2.0f, (const float *)q->data_ + i0 * sr->ldq,
                lda, (const float *)g->data_ + j0 * sr->ldg, ldb, 0.0f, (float *)c, n);
  else
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, -2.0, (const double *)q->data_ + i0 * sr->ldq,
                lda, (const double *)g->data_ + j0 * sr->ldg, ldb, 0.0, (double *)c, n);
}

/* Sorts query i's entries and writes its row of the outputs. */
static void finish(const search *sr, row_state *st, int64_t i) {
  const oml_knn_problem *p = sr->p;
  if (st->n > sr->k) cut(st, sr->k);
  if (st->n > 1) qsort(st->buf, (size_t)st->n, sizeof(entry), compare_entries);
  const oml_tensor *dist = p->distances, *idx = p->indices;
  int64_t *irow = (int64_t *)idx->data_ + i * idx->stride_[0];
  for (int64_t r = 0; r < p->k; r++) irow[r * idx->stride_[1]] = r < st->n ? st->buf[r].j + 1 : 0;
  if (sr->single) {
    float *drow = (float *)dist->data_ + i * dist->stride_[0];
    for (int64_t r = 0; r < p->k; r++) drow[r * dist->stride_[1]] = r < st->n ? (float)st->buf[r].dist : INFINITY;
  } else {
    double *drow = (double *)dist->data_ + i * dist->stride_[0];
    for (int64_t r = 0; r < p->k; r++) drow[r * dist->stride_[1]] = r < st->n ? st->buf[r].dist : INFINITY;
  }
  if (p->counts != NULL) ((int64_t *)p->counts->data_)[i * p->counts->stride_[0]] = st->n;
}

/* Query block b on one thread's workspace ws. */
static void run_block(const search *sr, char *ws, int64_t b) {
  const oml_knn_problem *p = sr->p;
  int64_t i0 = b * sr->qb, rows = sr->nq - i0 < sr->qb ? sr->nq - i0 : sr->qb;
  void *c = ws;
  row_state *st = (row_state *)(ws + sr->c_bytes);
  entry *bufs = (entry *)(ws + sr->c_bytes + sr->states_bytes);
  for (int64_t r = 0; r < rows; r++) {
    int64_t i = i0 + r;
    st[r].buf = bufs + r * sr->cap;
    st[r].n = 0;
    st[r].thr = INFINITY;
    st[r].qn = sr->qn[i];
    st[r].self = p->self_index != NULL ? p->self_index[i] : -1;
    st[r].seq = p->query_sequence != NULL ? p->query_sequence[i] : 0;
  }
  for (int64_t j0 = 0; j0 < sr->ng; j0 += sr->gb) {
    int64_t nb = sr->ng - j0 < sr->gb ? sr->ng - j0 : sr->gb;
    products(sr, i0, rows, j0, nb, c);
    for (int64_t r = 0; r < rows; r++) {
      if (sr->single) scan_f32(sr, &st[r], (const float *)c + r * nb, (const float *)sr->gn + j0, nb, j0);
      else scan_f64(sr, &st[r], (const double *)c + r * nb, (const double *)sr->gn + j0, nb, j0);
    }
  }
  for (int64_t r = 0; r < rows; r++) finish(sr, &st[r], i0 + r);
}

/* ---- norms ---------------------------------------------------------------- */

/* out[i] = the squared norm of row i, summed in float64. Returns the first
 * row whose value is above limit or NaN, or -1. */
#define SQNORMS(NAME, T)                                                             \
  static int64_t NAME(const oml_tensor *x, int64_t ld, double *out, double limit) { \
    int64_t rows = x->size_[0], d = x->size_[1];                                     \
    _Pragma("omp parallel for if (oml_parallel_ok(rows * d)) schedule(static)")      \
    for (int64_t i = 0; i < rows; i++) {                                             \
      const T *r = (const T *)x->data_ + i * ld;                                     \
      double acc = 0;                                                                \
      for (int64_t c = 0; c < d; c++) acc += (double)r[c] * r[c];                    \
      out[i] = acc;                                                                  \
    }                                                                                \
    for (int64_t i = 0; i < rows; i++)                                               \
      if (!(out[i] <= limit)) return i;                                              \
    return -1;                                                                       \
  }
SQNORMS(sqnorms_f32, float)
SQNORMS(sqnorms_f64, double)

/* Row stride of a [n,d] matrix whose rows have unit stride. */
static int64_t row_stride(const oml_tensor *t) {
  return t->size_[0] > 1 ? t->stride_[0] : (t->size_[1] > 0 ? t->size_[1] : 1);
}

/* Squared norms of the queries (float64) into qn and of the gallery into gd
 * (float64) and, for float32, gf; fails on a row that is not finite or so
 * large that 2 q.g could overflow (squared norms below max/4 keep it finite). */
static int norms(const search *sr, double *qn, double *gd, float *gf) {
  const oml_tensor *q = sr->p->queries, *g = sr->p->gallery;
  double limit = sr->single ? FLT_MAX / 4 : DBL_MAX / 4;
  const char *type = sr->single ? "float32" : "float64";
  int64_t bad = sr->single ? sqnorms_f32(q, sr->ldq, qn, limit) : sqnorms_f64(q, sr->ldq, qn, limit);
  if (bad >= 0)
    return oml_error("row %lld of the queries holds NaN or inf, or values too large for %s distances",
                     (long long)bad + 1, type);
  bad = sr->single ? sqnorms_f32(g, sr->ldg, gd, limit) : sqnorms_f64(g, sr->ldg, gd, limit);
  if (bad >= 0)
    return oml_error("row %lld of the gallery holds NaN or inf, or values too large for %s distances",
                     (long long)bad + 1, type);
  if (sr->single)
    for (int64_t j = 0; j < sr->ng; j++) gf[j] = (float)gd[j];
  return 0;
}

/* ---- the search ----------------------------------------------------------- */

static int64_t clamp(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }
static int64_t align64(int64_t n) { return (n + 63) & ~(int64_t)63; }

/* Block sizes and one thread's workspace layout. */
static void plan(search *sr) {
  const oml_knn_problem *p = sr->p;
  int64_t qb = p->query_block, gb = p->gallery_block;
  if (qb == 0) qb = clamp((sr->nq + MIN_QUERY_BLOCKS - 1) / MIN_QUERY_BLOCKS, MIN_QUERY_BLOCK, DEFAULT_QUERY_BLOCK);
  if (gb == 0) gb = DEFAULT_GALLERY_BLOCK;
  sr->cap = 2 * sr->k < sr->ng ? 2 * sr->k : sr->ng;
  int64_t row_bytes = sr->cap * (int64_t)sizeof(entry);
  if (row_bytes > 0 && qb > SELECTION_BYTES / row_bytes) qb = SELECTION_BYTES / row_bytes;
  sr->qb = clamp(qb, 1, sr->nq < MAX_BLOCK ? sr->nq : MAX_BLOCK);
  sr->gb = clamp(gb, 1, clamp(sr->ng, 1, MAX_BLOCK));
  int64_t es = sr->single ? (int64_t)sizeof(float) : (int64_t)sizeof(double);
  sr->c_bytes = align64(sr->qb * sr->gb * es);
  sr->states_bytes = align64(sr->qb * (int64_t)sizeof(row_state));
  sr->per_thread = sr->c_bytes + sr->states_bytes + align64(sr->qb * row_bytes);
}

/* The query blocks over nt threads, with OpenBLAS held to the calling thread. */
static void run_blocks(const search *sr, char *ws, int nt) {
  int64_t nblocks = (sr->nq + sr->qb - 1) / sr->qb;
  int blas_threads = omp_in_parallel() ? 1 : openblas_get_num_threads();
  if (blas_threads > 1) openblas_set_num_threads(1);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char *mine = ws + (int64_t)omp_get_thread_num() * sr->per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < nblocks; b++) run_block(sr, mine, b);
  }
  if (blas_threads > 1) openblas_set_num_threads(blas_threads);
}

int oml_cpu_knn_search(const oml_knn_problem *p) {
  search sr;
  memset(&sr, 0, sizeof sr);
  sr.p = p;
  sr.single = p->queries->dtype_ == OML_FLOAT32;
  sr.nq = p->queries->size_[0];
  sr.ng = p->gallery->size_[0];
  sr.d = p->queries->size_[1];
  sr.k = p->k < sr.ng ? p->k : sr.ng;
  sr.ldq = row_stride(p->queries);
  sr.ldg = row_stride(p->gallery);
  if (sr.nq == 0) return 0;
  plan(&sr);

  int64_t nblocks = (sr.nq + sr.qb - 1) / sr.qb;
  double work = (double)sr.nq * (double)sr.ng * (double)(sr.d > 0 ? sr.d : 1);
  int nt = oml_parallel_ok(work < 0x1p62 ? (int64_t)work : INT64_MAX) ? omp_get_max_threads() : 1;
  if (nt > nblocks) nt = (int)nblocks;
  int64_t qn_bytes = sr.nq * (int64_t)sizeof(double), gd_bytes = sr.ng * (int64_t)sizeof(double);
  int64_t gf_bytes = sr.single ? sr.ng * (int64_t)sizeof(float) : 0, ws_bytes = nt * sr.per_thread;
  double *qn = oml_alloc(qn_bytes, OML_CPU), *gd = oml_alloc(gd_bytes, OML_CPU);
  float *gf = sr.single ? oml_alloc(gf_bytes, OML_CPU) : NULL;
  char *ws = oml_alloc(ws_bytes, OML_CPU);
  int rc = qn == NULL || gd == NULL || (sr.single && gf == NULL) || ws == NULL ? -1 : 0;
  if (rc == 0) rc = norms(&sr, qn, gd, gf);
  if (rc == 0) {
    sr.qn = qn;
    sr.gn = sr.single ? (const void *)gf : (const void *)gd;
    run_blocks(&sr, ws, nt);
  }
  oml_free(ws, ws_bytes, OML_CPU);
  oml_free(gf, gf_bytes, OML_CPU);
  oml_free(gd, gd_bytes, OML_CPU);
  oml_free(qn, qn_bytes, OML_CPU);
  return rc;
}
