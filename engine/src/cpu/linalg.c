/* cpu/linalg.c — batched GEMM on OpenBLAS.
 *
 * Each matrix reaches BLAS where it lies (core/blas_layout.h), so transposed
 * views cost no copy.
 *
 * OpenBLAS always runs single-threaded (threads.c): its own worker threads
 * spin for a while after each GEMM and fight the OpenMP loops that follow
 * for the cores. The parallelism is OpenMP's, over units of work: a small
 * matrix is one unit, a large one is cut into blocks of about GEMM_BLOCK
 * rows (or columns, when they are more). The cut depends on the shape
 * alone, never on the thread count, so neither do the results (BLAS's
 * kernels round a small block differently from a large one). */
#include "linalg.h"
#include "../core/blas_layout.h"

#include <cblas.h>
#include <limits.h>

/* A matrix of at least this many multiply-adds is cut into blocks of at
 * most about GEMM_BLOCK rows (or columns), their number a multiple of
 * GEMM_PARTS (so that 2 threads share them evenly), each a multiple
 * of GEMM_SPLIT_ALIGN long but the last. */
#define GEMM_SPLIT_WORK (65536 * 4)
#define GEMM_BLOCK 256
#define GEMM_PARTS 2
#define GEMM_SPLIT_ALIGN 4

/* ---- one product -------------------------------------------------------- */

typedef struct gemm_plan {
  int32_t dtype;
  int64_t m, n, k;
  oml_blas_layout a, b, out;
  double alpha, beta;
} gemm_plan;

/* out *= beta (or = 0 when beta is 0), for a product with k = 0 */
#define SCALE_LOOP(NAME, T)                                                              \
  static void NAME(const gemm_plan *p, char *data) {                                     \
    T *c = (T *)data;                                                                    \
    int64_t si = p->out.col_major ? 1 : p->out.ld, sj = p->out.col_major ? p->out.ld : 1; \
    T beta = (T)p->beta;                                                                 \
    for (int64_t i = 0; i < p->m; i++)                                                   \
      for (int64_t j = 0; j < p->n; j++) c[i * si + j * sj] = beta == 0 ? 0 : beta * c[i * si + j * sj]; \
  }
SCALE_LOOP(scale_f32, float)
SCALE_LOOP(scale_f64, double)

static void gemm_one(const gemm_plan *p, const char *a, const char *b, char *out) {
  if (p->k == 0) {
    if (p->dtype == OML_FLOAT32) scale_f32(p, out);
    else scale_f64(p, out);
    return;
  }
  /* In the output's order, an operand stored the other way round is transposed. */
  enum CBLAS_ORDER order = p->out.col_major ? CblasColMajor : CblasRowMajor;
  enum CBLAS_TRANSPOSE ta = p->a.col_major == p->out.col_major ? CblasNoTrans : CblasTrans;
  enum CBLAS_TRANSPOSE tb = p->b.col_major == p->out.col_major ? CblasNoTrans : CblasTrans;
  blasint m = (blasint)p->m, n = (blasint)p->n, k = (blasint)p->k;
  blasint lda = (blasint)p->a.ld, ldb = (blasint)p->b.ld, ldc = (blasint)p->out.ld;
  switch (p->dtype) {
  case OML_FLOAT32:
    cblas_sgemm(order, ta, tb, m, n, k, (float)p->alpha, (const float *)a, lda, (const float *)b, ldb,
                (float)p->beta, (float *)out, ldc);
    break;
  case OML_FLOAT64:
    cblas_dgemm(order, ta, tb, m, n, k, p->alpha, (const double *)a, lda, (const double *)b, ldb, p->beta,
                (double *)out, ldc);
    break;
  default:
    break;
  }
}

/* Part `part` of `parts` of one product: a block of the output's rows (or
 * columns, when they are more), with the matching rows of a (columns of b). */
static void gemm_part(const gemm_plan *p, const char *a, const char *b, char *out, int part, int parts) {
  int by_rows = p->m >= p->n;
  int64_t len = by_rows ? p->m : p->n;
  int64_t chunk = (len + parts - 1) / parts;
  chunk = (chunk + GEMM_SPLIT_ALIGN - 1) / GEMM_SPLIT_ALIGN * GEMM_SPLIT_ALIGN;
  int64_t start = (int64_t)part * chunk;
  if (start >= len) return;
  int64_t count = len - start < chunk ? len - start : chunk;
  int64_t es = oml_dtype_size(p->dtype);
  gemm_plan q = *p;
  if (by_rows) {
    q.m = count;
    a += start * (p->a.col_major ? 1 : p->a.ld) * es;
    out += start * (p->out.col_major ? 1 : p->out.ld) * es;
  } else {
    q.n = count;
    b += start * (p->b.col_major ? p->b.ld : 1) * es;
    out += start * (p->out.col_major ? p->out.ld : 1) * es;
  }
  gemm_one(&q, a, b, out);
}

/* The product at batch index i: the batch dims' strides locate each matrix. */
static void gemm_at(const gemm_plan *p, const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int64_t i,
                    int part, int parts) {
  int64_t es = oml_dtype_size(p->dtype), oa = 0, ob = 0, oo = 0, rest = i;
  for (int32_t d = out->ndim_ - 3; d >= 0; d--) {
    int64_t idx = rest % out->size_[d];
    rest /= out->size_[d];
    oa += idx * a->stride_[d];
    ob += idx * b->stride_[d];
    oo += idx * out->stride_[d];
  }
  gemm_part(p, a->data_ + oa * es, b->data_ + ob * es, out->data_ + oo * es, part, parts);
}

void oml_cpu_gemm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta) {
  int32_t nd = out->ndim_;
  gemm_plan p;
  p.dtype = out->dtype_;
  p.m = out->size_[nd - 2];
  p.n = out->size_[nd - 1];
  p.k = a->size_[nd - 1];
  p.alpha = alpha;
  p.beta = beta;
  oml_blas_tensor_layout(a, &p.a);
  oml_blas_tensor_layout(b, &p.b);
  oml_blas_tensor_layout(out, &p.out);
  int64_t batch = 1;
  for (int32_t d = 0; d < nd - 2; d++) batch *= out->size_[d];
  if (batch == 0 || p.m == 0 || p.n == 0) return;
  /* in double: expanded operands can make m * n * k exceed int64 */
  double work = (double)p.m * (double)p.n * (double)(p.k > 0 ? p.k : 1);
  int64_t len = p.m >= p.n ? p.m : p.n;
  int parts = 1;
  if (work >= GEMM_SPLIT_WORK && len >= GEMM_PARTS * GEMM_SPLIT_ALIGN) {
    int64_t blocks = (len + GEMM_BLOCK - 1) / GEMM_BLOCK;
    parts = (int)((blocks + GEMM_PARTS - 1) / GEMM_PARTS * GEMM_PARTS);
  }
  int64_t units = batch * parts;
  int threaded = units > 1 && oml_parallel_ok(work > (double)INT64_MAX / (double)batch ? INT64_MAX : (int64_t)(batch * work));
#pragma omp parallel for if (threaded) schedule(static)
  for (int64_t u = 0; u < units; u++) gemm_at(&p, a, b, out, u / parts, (int)(u % parts), parts);
}
