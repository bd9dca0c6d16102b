/* cpu/distance.h — CPU kernels for normalize and cdist (arguments already
 * checked by ops/distance.c), and the per-element math they share with
 * the CUDA kernels. */
#ifndef OML_CPU_DISTANCE_H
#define OML_CPU_DISTANCE_H

#include "../core/internal.h"
#include "../core/scalar_math.h"

#include <math.h>

/* Cosine distances divide by max(||x||, eps) * max(||y||, eps), so that a
 * zero vector is at distance 1 from everything (as torch's cosine_similarity). */
#define OML_COSINE_EPS 1e-8

/* A p-norm is oml_norm_finish(p, fold of oml_norm_step over |x| from
 * oml_norm_start(p)). p = inf is the largest |x| (NaN wins), -inf the smallest,
 * 0 the count of non-zeros, as torch.linalg.vector_norm. */
OML_HD static inline double oml_norm_start(double p) { return p == -INFINITY ? INFINITY : 0; }

OML_HD static inline double oml_norm_step(double p, double acc, double x) {
  double ax = fabs(x);
  if (p == 2) return acc + ax * ax;
  if (p == 1) return acc + ax;
  if (p == INFINITY) return (ax > acc || ax != ax) ? ax : acc;
  if (p == -INFINITY) return (ax < acc || ax != ax) ? ax : acc;
  if (p == 0) return acc + (x != 0);
  return acc + pow(ax, p);
}

OML_HD static inline double oml_norm_finish(double p, double acc) {
  if (p == 2) return sqrt(acc);
  if (p == 1 || p == 0 || p == INFINITY || p == -INFINITY) return acc;
  return pow(acc, 1 / p);
}

/* The euclidean distance from a GEMM's -2 x.y and the squared norms of x and y;
 * rounding can make the sum slightly negative, hence the clamp. */
OML_HD static inline double oml_euclidean_from_dot(double minus_2xy, double xx, double yy) {
  double d2 = xx + yy + minus_2xy;
  return sqrt(d2 > 0 ? d2 : 0);
}

OML_HD static inline double oml_cosine_from_dot(double xy, double xx, double yy) {
  double nx = sqrt(xx), ny = sqrt(yy);
  return 1 - xy / ((nx > OML_COSINE_EPS ? nx : OML_COSINE_EPS) * (ny > OML_COSINE_EPS ? ny : OML_COSINE_EPS));
}

/* out = a / max(||a||_p, eps) along dim; out has a's shape and dtype (float32
 * or float64) and is a itself or apart from it. */
void oml_cpu_normalize(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps);

/* norms[i] = the squared euclidean norm of row i of the matrix x; norms is
 * float64 [rows]. */
void oml_cpu_row_sqnorms(const oml_tensor *x, oml_tensor *norms);

/* out[i,j] = ||x_i - y_j|| computed from the differences: exact, for few rows. */
void oml_cpu_cdist_direct(const oml_tensor *x, const oml_tensor *y, oml_tensor *out);

/* Turns out, holding -2 x.y (euclidean) or x.y (cosine) from a GEMM, into the
 * distances, given the squared row norms xx and yy (float64). */
void oml_cpu_cdist_finish(const oml_tensor *xx, const oml_tensor *yy, oml_tensor *out, int32_t metric);

#endif
