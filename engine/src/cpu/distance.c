/* cpu/distance.c — normalize along a dim, and the non-GEMM parts of cdist.
 * Sums run in float64 for both dtypes. */
#include "distance.h"


/* ---- normalize ------------------------------------------------------------ */

#define NORMALIZE(NAME, T)                                                                    \
  static void NAME(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps) { \
    int64_t len = a->ndim_ ? a->size_[dim] : 1;                                               \
    int64_t sa = a->ndim_ ? a->stride_[dim] : 0, so = out->ndim_ ? out->stride_[dim] : 0;     \
    int64_t lines = len ? a->numel_ / len : 0;                                                \
    _Pragma("omp parallel for if (oml_parallel_ok(a->numel_)) schedule(static)")              \
    for (int64_t i = 0; i < lines; i++) {                                                     \
      const T *x = (const T *)a->data_ + oml_line_offset(a, dim, i);                              \
      T *o = (T *)out->data_ + oml_line_offset(out, dim, i);                                      \
      double acc = oml_norm_start(p);                                                         \
      if (p == 2) {                                                                           \
        for (int64_t j = 0; j < len; j++) acc += (double)x[j * sa] * x[j * sa];               \
      } else {                                                                                \
        for (int64_t j = 0; j < len; j++) acc = oml_norm_step(p, acc, x[j * sa]);             \
      }                                                                                       \
      double norm = oml_norm_finish(p, acc); /* a NaN norm stays NaN, as clamp_min */       \
      T denom = (T)(norm > eps || norm != norm ? norm : eps);                                 \
      for (int64_t j = 0; j < len; j++) o[j * so] = x[j * sa] / denom;                        \
    }                                                                                         \
  }
NORMALIZE(normalize_f32, float)
NORMALIZE(normalize_f64, double)

void oml_cpu_normalize(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps) {
  if (a->dtype_ == OML_FLOAT32) normalize_f32(a, out, p, dim, eps);
  else normalize_f64(a, out, p, dim, eps);
}

/* ---- cdist ---------------------------------------------------------------- */

#define ROW_SQNORMS(NAME, T)                                                  \
  static void NAME(const oml_tensor *x, oml_tensor *norms) {                  \
    int64_t rows = x->size_[0], cols = x->size_[1];                           \
    int64_t s0 = x->stride_[0], s1 = x->stride_[1];                           \
    double *nrm = (double *)norms->data_;                                     \
    _Pragma("omp parallel for if (oml_parallel_ok(x->numel_)) schedule(static)") \
    for (int64_t i = 0; i < rows; i++) {                                      \
      const T *r = (const T *)x->data_ + i * s0;                              \
      double acc = 0;                                                         \
      for (int64_t j = 0; j < cols; j++) acc += (double)r[j * s1] * r[j * s1]; \
      nrm[i] = acc;                                                           \
    }                                                                         \
  }
ROW_SQNORMS(row_sqnorms_f32, float)
ROW_SQNORMS(row_sqnorms_f64, double)

void oml_cpu_row_sqnorms(const oml_tensor *x, oml_tensor *norms) {
  if (x->dtype_ == OML_FLOAT32) row_sqnorms_f32(x, norms);
  else row_sqnorms_f64(x, norms);
}

#define CDIST_DIRECT(NAME, T)                                                                \
  static void NAME(const oml_tensor *x, const oml_tensor *y, oml_tensor *out) {             \
    int64_t n = x->size_[0], m = y->size_[0], d = x->size_[1];                              \
    int64_t xs0 = x->stride_[0], xs1 = x->stride_[1], ys0 = y->stride_[0], ys1 = y->stride_[1]; \
    int64_t os0 = out->stride_[0], os1 = out->stride_[1];                                   \
    _Pragma("omp parallel for if (oml_parallel_ok(n * m * d)) schedule(static)")            \
    for (int64_t ij = 0; ij < n * m; ij++) {                                                \
      int64_t i = ij / m, j = ij % m;                                                       \
      const T *xr = (const T *)x->data_ + i * xs0, *yr = (const T *)y->data_ + j * ys0;     \
      double acc = 0;                                                                       \
      for (int64_t k = 0; k < d; k++) {                                                     \
        double diff = (double)xr[k * xs1] - yr[k * ys1];                                    \
        acc += diff * diff;                                                                 \
      }                                                                                     \
      ((T *)out->data_)[i * os0 + j * os1] = (T)sqrt(acc);                                  \
    }                                                                                       \
  }
CDIST_DIRECT(cdist_direct_f32, float)
CDIST_DIRECT(cdist_direct_f64, double)

void oml_cpu_cdist_direct(const oml_tensor *x, const oml_tensor *y, oml_tensor *out) {
  if (x->dtype_ == OML_FLOAT32) cdist_direct_f32(x, y, out);
  else cdist_direct_f64(x, y, out);
}

#define CDIST_FINISH(NAME, T)                                                                     \
  static void NAME(const oml_tensor *xx, const oml_tensor *yy, oml_tensor *out, int32_t metric) { \
    int64_t n = out->size_[0], m = out->size_[1], s0 = out->stride_[0], s1 = out->stride_[1];     \
    const double *nx = (const double *)xx->data_, *ny = (const double *)yy->data_;                \
    _Pragma("omp parallel for if (oml_parallel_ok(n * m)) schedule(static)")                      \
    for (int64_t i = 0; i < n; i++) {                                                             \
      T *row = (T *)out->data_ + i * s0;                                                          \
      if (metric == OML_EUCLIDEAN) {                                                              \
        for (int64_t j = 0; j < m; j++) row[j * s1] = (T)oml_euclidean_from_dot(row[j * s1], nx[i], ny[j]); \
      } else {                                                                                    \
        for (int64_t j = 0; j < m; j++) row[j * s1] = (T)oml_cosine_from_dot(row[j * s1], nx[i], ny[j]); \
      }                                                                                           \
    }                                                                                             \
  }
CDIST_FINISH(cdist_finish_f32, float)
CDIST_FINISH(cdist_finish_f64, double)

void oml_cpu_cdist_finish(const oml_tensor *xx, const oml_tensor *yy, oml_tensor *out, int32_t metric) {
  if (out->dtype_ == OML_FLOAT32) cdist_finish_f32(xx, yy, out, metric);
  else cdist_finish_f64(xx, yy, out, metric);
}
