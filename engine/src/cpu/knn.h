/* cpu/knn.h — the exact k-NN search on the CPU (arguments already checked
 * by ops/knn.c), and the per-element math a CUDA kernel would share. */
#ifndef OML_CPU_KNN_H
#define OML_CPU_KNN_H

#include "../core/internal.h"
#include "../core/scalar_math.h"

#include <math.h>

/* The distance from a query's squared norm and s = ||g||^2 - 2 q.g, the part
 * of ||q - g||^2 that the ranking needs; rounding can make the sum slightly
 * negative, hence the clamp. Non-decreasing in s, which the selection relies on. */
OML_HD static inline double oml_knn_distance(double query_sqnorm, double s) {
  double d2 = query_sqnorm + s;
  return sqrt(d2 > 0 ? d2 : 0);
}

typedef struct oml_knn_problem {
  /* [nq,d] and [ng,d], one dtype, each row of unit stride with a row
   * stride BLAS accepts (ops/knn.c copies other layouts) */
  const oml_tensor *queries, *gallery;
  const int64_t *self_index;       /* [nq]: the 0-based gallery row each query skips, or -1; NULL for none */
  const int64_t *query_sequence;   /* [nq] and [ng], or both NULL */
  const int64_t *gallery_sequence;
  oml_tensor *distances, *indices; /* [nq,k] of the queries' dtype and int64, prepared */
  oml_tensor *counts;              /* [nq] int64, prepared, or NULL */
  int64_t k;                       /* >= 1 */
  int64_t query_block, gallery_block; /* rows per GEMM, 0 for the defaults */
} oml_knn_problem;

/* Fills the outputs; fails (with the error set) when a row holds NaN, inf
 * or values too large for the dtype's distances, or when memory runs out. */
int oml_cpu_knn_search(const oml_knn_problem *p);

#endif
