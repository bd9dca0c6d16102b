/* cpu/norm.c — batch norm and layer norm kernels.
 *
 * Statistics are summed in float64 for both dtypes (as PyTorch's CPU
 * kernels do), with `omp simd` reductions so that the float32 loops still
 * vectorise. Work is split over channels (batch norm) or fixed blocks of
 * rows (layer norm), never over the elements of one sum, so results do not
 * depend on the thread count. */
#include "norm.h"

#include <math.h>
#include <stdlib.h>

/* ---- batch norm: [n, c, s] with s > 1, one channel per iteration ---------- */

#define BN_TRAIN_PLANES(NAME, T)                                                                  \
  static void NAME(const T *x, T *o, oml_bn_shape sh, const double *w, const double *b, double eps, \
                   double *mean, double *var_sum) {                                               \
    const int64_t n = sh.n, c = sh.c, s = sh.s;                                                   \
    const double m = (double)(n * s);                                                             \
    _Pragma("omp parallel for if (oml_parallel_ok(n * c * s)) schedule(static)")                  \
    for (int64_t ch = 0; ch < c; ch++) {                                                          \
      double sum = 0, ssd = 0;                                                                    \
      for (int64_t i = 0; i < n; i++) {                                                           \
        const T *p = x + (i * c + ch) * s;                                                        \
        double part = 0;                                                                          \
        _Pragma("omp simd reduction(+ : part)") for (int64_t j = 0; j < s; j++) part += p[j];     \
        sum += part;                                                                              \
      }                                                                                           \
      const double mu = sum / m;                                                                  \
      for (int64_t i = 0; i < n; i++) {                                                           \
        const T *p = x + (i * c + ch) * s;                                                        \
        double part = 0;                                                                          \
        _Pragma("omp simd reduction(+ : part)") for (int64_t j = 0; j < s; j++) {                 \
          double dev = p[j] - mu;                                                                 \
          part += dev * dev;                                                                      \
        }                                                                                         \
        ssd += part;                                                                              \
      }                                                                                           \
      double scale, shift;                                                                        \
      oml_bn_train_affine(w ? w[ch] : 1, b ? b[ch] : 0, mu, ssd, m, eps, &scale, &shift);          \
      const T tscale = (T)scale, tshift = (T)shift;                                               \
      for (int64_t i = 0; i < n; i++) {                                                           \
        const T *p = x + (i * c + ch) * s;                                                        \
        T *q = o + (i * c + ch) * s;                                                              \
        for (int64_t j = 0; j < s; j++) q[j] = p[j] * tscale + tshift;                            \
      }                                                                                           \
      mean[ch] = mu;                                                                              \
      var_sum[ch] = ssd;                                                                          \
    }                                                                                             \
  }

#define BN_BACKWARD_PLANES(NAME, T)                                                               \
  static void NAME(const T *x, const T *dy, T *dx, oml_bn_shape sh, const double *mean,           \
                   const double *invstd, const double *w, int32_t training, double *sum_dy,       \
                   double *dot) {                                                                 \
    const int64_t n = sh.n, c = sh.c, s = sh.s;                                                   \
    const double m = (double)(n * s);                                                             \
    _Pragma("omp parallel for if (oml_parallel_ok(n * c * s)) schedule(static)")                  \
    for (int64_t ch = 0; ch < c; ch++) {                                                          \
      const double mu = mean[ch];                                                                 \
      double sg = 0, sd = 0;                                                                      \
      for (int64_t i = 0; i < n; i++) {                                                           \
        const T *p = x + (i * c + ch) * s, *g = dy + (i * c + ch) * s;                            \
        double pg = 0, pd = 0;                                                                    \
        _Pragma("omp simd reduction(+ : pg, pd)") for (int64_t j = 0; j < s; j++) {               \
          pg += g[j];                                                                             \
          pd += (p[j] - mu) * g[j];                                                               \
        }                                                                                         \
        sg += pg;                                                                                 \
        sd += pd;                                                                                 \
      }                                                                                           \
      sum_dy[ch] = sg;                                                                            \
      dot[ch] = sd;                                                                               \
      if (dx == NULL) continue;                                                                   \
      double da, dgm, dk;                                                                         \
      oml_bn_backward_coefs(sg, sd, invstd[ch], w ? w[ch] : 1, m, training, &da, &dgm, &dk);       \
      const T a = (T)da, k = (T)dk, gm = (T)dgm;                                                  \
      const T tmu = (T)mu;                                                                        \
      for (int64_t i = 0; i < n; i++) {                                                           \
        const T *p = x + (i * c + ch) * s, *g = dy + (i * c + ch) * s;                            \
        T *q = dx + (i * c + ch) * s;                                                             \
        if (training)                                                                             \
          for (int64_t j = 0; j < s; j++) q[j] = (g[j] - gm - (p[j] - tmu) * k) * a;              \
        else                                                                                      \
          for (int64_t j = 0; j < s; j++) q[j] = g[j] * a;                                        \
      }                                                                                           \
    }                                                                                             \
  }

/* ---- batch norm: [n, c] (s == 1), rows at a time, vectorised over channels */

#define BN_TRAIN_ROWS(NAME, T)                                                                    \
  static void NAME(const T *x, double *mean, double *var_sum, oml_bn_shape sh) {                  \
    const int64_t n = sh.n, c = sh.c;                                                             \
    for (int64_t ch = 0; ch < c; ch++) mean[ch] = var_sum[ch] = 0;                                \
    for (int64_t i = 0; i < n; i++)                                                               \
      for (int64_t ch = 0; ch < c; ch++) mean[ch] += x[i * c + ch];                               \
    for (int64_t ch = 0; ch < c; ch++) mean[ch] /= (double)n;                                     \
    for (int64_t i = 0; i < n; i++)                                                               \
      for (int64_t ch = 0; ch < c; ch++) {                                                        \
        double dev = x[i * c + ch] - mean[ch];                                                    \
        var_sum[ch] += dev * dev;                                                                 \
      }                                                                                           \
  }

#define BN_AFFINE(NAME, T)                                                                        \
  static void NAME(const T *x, T *o, oml_bn_shape sh, const double *scale, const double *shift) { \
    const int64_t n = sh.n, c = sh.c, s = sh.s;                                                   \
    _Pragma("omp parallel for if (oml_parallel_ok(n * c * s)) schedule(static)")                  \
    for (int64_t r = 0; r < n * c; r++) {                                                         \
      const T sc = (T)scale[r % c], sf = (T)shift[r % c];                                         \
      const T *p = x + r * s;                                                                     \
      T *q = o + r * s;                                                                           \
      for (int64_t j = 0; j < s; j++) q[j] = p[j] * sc + sf;                                      \
    }                                                                                             \
  }

/* coef holds a, gm, k, mu per channel (see oml_cpu_batch_norm_backward) */
#define BN_BACKWARD_ROWS(NAME, T)                                                                 \
  static void NAME(const T *x, const T *dy, T *dx, oml_bn_shape sh, const double *mean,           \
                   double *sum_dy, double *dot, const double *coef, int32_t pass) {               \
    const int64_t n = sh.n, c = sh.c;                                                             \
    if (pass == 0) {                                                                              \
      for (int64_t ch = 0; ch < c; ch++) sum_dy[ch] = dot[ch] = 0;                                \
      for (int64_t i = 0; i < n; i++)                                                             \
        for (int64_t ch = 0; ch < c; ch++) {                                                      \
          sum_dy[ch] += dy[i * c + ch];                                                           \
          dot[ch] += (x[i * c + ch] - mean[ch]) * dy[i * c + ch];                                 \
        }                                                                                         \
      return;                                                                                     \
    }                                                                                             \
    const double *a = coef, *gm = coef + c, *k = coef + 2 * c;                                    \
    for (int64_t i = 0; i < n; i++)                                                               \
      for (int64_t ch = 0; ch < c; ch++)                                                          \
        dx[i * c + ch] = (T)((dy[i * c + ch] - gm[ch] - (x[i * c + ch] - mean[ch]) * k[ch]) * a[ch]); \
  }

BN_TRAIN_PLANES(bn_train_planes_f32, float)
BN_TRAIN_PLANES(bn_train_planes_f64, double)
BN_BACKWARD_PLANES(bn_backward_planes_f32, float)
BN_BACKWARD_PLANES(bn_backward_planes_f64, double)
BN_TRAIN_ROWS(bn_train_rows_f32, float)
BN_TRAIN_ROWS(bn_train_rows_f64, double)
BN_AFFINE(bn_affine_f32, float)
BN_AFFINE(bn_affine_f64, double)
BN_BACKWARD_ROWS(bn_backward_rows_f32, float)
BN_BACKWARD_ROWS(bn_backward_rows_f64, double)

void oml_cpu_batch_norm_affine(const oml_tensor *x, oml_tensor *out, oml_bn_shape sh, const double *scale,
                               const double *shift) {
  if (x->dtype_ == OML_FLOAT32) bn_affine_f32((const float *)x->data_, (float *)out->data_, sh, scale, shift);
  else bn_affine_f64((const double *)x->data_, (double *)out->data_, sh, scale, shift);
}

int oml_cpu_batch_norm_train(const oml_tensor *x, oml_tensor *out, oml_bn_shape sh, const double *w,
                             const double *b, double eps, double *mean, double *var_sum) {
  int f32 = x->dtype_ == OML_FLOAT32;
  if (sh.s > 1) {
    if (f32) bn_train_planes_f32((const float *)x->data_, (float *)out->data_, sh, w, b, eps, mean, var_sum);
    else bn_train_planes_f64((const double *)x->data_, (double *)out->data_, sh, w, b, eps, mean, var_sum);
    return 0;
  }
  if (f32) bn_train_rows_f32((const float *)x->data_, mean, var_sum, sh);
  else bn_train_rows_f64((const double *)x->data_, mean, var_sum, sh);
  double *scale = malloc(2 * (size_t)sh.c * sizeof(double) + 1);
  if (scale == NULL) return oml_error("out of memory for %lld channels", (long long)sh.c);
  double *shift = scale + sh.c;
  for (int64_t ch = 0; ch < sh.c; ch++)
    oml_bn_train_affine(w ? w[ch] : 1, b ? b[ch] : 0, mean[ch], var_sum[ch], (double)sh.n, eps, scale + ch,
                        shift + ch);
  oml_cpu_batch_norm_affine(x, out, sh, scale, shift);
  free(scale);
  return 0;
}

int oml_cpu_batch_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, oml_bn_shape sh,
                                const double *mean, const double *invstd, const double *w, int32_t training,
                                double *sum_dy, double *dot) {
  int f32 = x->dtype_ == OML_FLOAT32;
  void *gi = dx ? dx->data_ : NULL;
  if (sh.s > 1) {
    if (f32)
      bn_backward_planes_f32((const float *)x->data_, (const float *)dy->data_, gi, sh, mean, invstd, w, training,
                             sum_dy, dot);
    else
      bn_backward_planes_f64((const double *)x->data_, (const double *)dy->data_, gi, sh, mean, invstd, w,
                             training, sum_dy, dot);
    return 0;
  }
  if (f32) bn_backward_rows_f32((const float *)x->data_, (const float *)dy->data_, gi, sh, mean, sum_dy, dot, NULL, 0);
  else bn_backward_rows_f64((const double *)x->data_, (const double *)dy->data_, gi, sh, mean, sum_dy, dot, NULL, 0);
  if (dx == NULL) return 0;
  double *coef = malloc(3 * (size_t)sh.c * sizeof(double) + 1);
  if (coef == NULL) return oml_error("out of memory for %lld channels", (long long)sh.c);
  const double m = (double)sh.n;
  for (int64_t ch = 0; ch < sh.c; ch++)
    oml_bn_backward_coefs(sum_dy[ch], dot[ch], invstd[ch], w ? w[ch] : 1, m, training, coef + ch, coef + sh.c + ch,
                          coef + 2 * sh.c + ch);
  if (f32) bn_backward_rows_f32((const float *)x->data_, (const float *)dy->data_, gi, sh, mean, sum_dy, dot, coef, 1);
  else bn_backward_rows_f64((const double *)x->data_, (const double *)dy->data_, gi, sh, mean, sum_dy, dot, coef, 1);
  free(coef);
  return 0;
}

/* ---- layer norm ------------------------------------------------------------ */

#define LN_FORWARD(NAME, T)                                                                       \
  static void NAME(const T *x, T *o, int64_t rows, int64_t d, const T *w, const T *b, double eps, \
                   T *save_mean, T *save_invstd) {                                                \
    _Pragma("omp parallel for if (oml_parallel_ok(rows * d)) schedule(static)")                   \
    for (int64_t r = 0; r < rows; r++) {                                                          \
      const T *p = x + r * d;                                                                     \
      T *q = o + r * d;                                                                           \
      double sum = 0, ssd = 0;                                                                    \
      _Pragma("omp simd reduction(+ : sum)") for (int64_t j = 0; j < d; j++) sum += p[j];         \
      const double mu = sum / (double)d;                                                          \
      _Pragma("omp simd reduction(+ : ssd)") for (int64_t j = 0; j < d; j++) {                    \
        double dev = p[j] - mu;                                                                   \
        ssd += dev * dev;                                                                         \
      }                                                                                           \
      const double rstd = oml_norm_invstd(ssd, (double)d, eps);                                   \
      const T tm = (T)mu, tr = (T)rstd;                                                           \
      if (w) for (int64_t j = 0; j < d; j++) q[j] = (p[j] - tm) * tr * w[j];                      \
      else for (int64_t j = 0; j < d; j++) q[j] = (p[j] - tm) * tr;                               \
      if (b) for (int64_t j = 0; j < d; j++) q[j] += b[j];                                        \
      if (save_mean) save_mean[r] = tm;                                                           \
      if (save_invstd) save_invstd[r] = tr;                                                       \
    }                                                                                             \
  }

/* Rows per block of the parameter-gradient partial sums: fixed, so that the
 * summation order never depends on the thread count. */
#define LN_BLOCK_ROWS 64

#define LN_BACKWARD(NAME, T)                                                                      \
  static void NAME(const T *x, const T *dy, T *dx, int64_t rows, int64_t d, const T *w,           \
                   const T *mean, const T *invstd, double *partial) {                             \
    const int64_t nblocks = (rows + LN_BLOCK_ROWS - 1) / LN_BLOCK_ROWS;                           \
    _Pragma("omp parallel for if (oml_parallel_ok(rows * d)) schedule(static)")                   \
    for (int64_t blk = 0; blk < nblocks; blk++) {                                                 \
      const int64_t r1 = blk * LN_BLOCK_ROWS + LN_BLOCK_ROWS < rows ? blk * LN_BLOCK_ROWS + LN_BLOCK_ROWS : rows; \
      double *pw = partial ? partial + 2 * blk * d : NULL, *pb = pw ? pw + d : NULL;              \
      if (pw) for (int64_t j = 0; j < 2 * d; j++) pw[j] = 0;                                      \
      for (int64_t r = blk * LN_BLOCK_ROWS; r < r1; r++) {                                        \
        const T *p = x + r * d, *g = dy + r * d;                                                  \
        const double mu = mean[r], rstd = invstd[r];                                              \
        if (pw) for (int64_t j = 0; j < d; j++) {                                                 \
          pw[j] += (double)g[j] * ((p[j] - mu) * rstd);                                           \
          pb[j] += g[j];                                                                          \
        }                                                                                         \
        if (dx == NULL) continue;                                                                 \
        double ds = 0, db = 0;                                                                    \
        if (w) {                                                                                  \
          _Pragma("omp simd reduction(+ : ds, db)") for (int64_t j = 0; j < d; j++) {             \
            double gw = (double)g[j] * w[j];                                                      \
            ds += gw * p[j];                                                                      \
            db += gw;                                                                             \
          }                                                                                       \
        } else {                                                                                  \
          _Pragma("omp simd reduction(+ : ds, db)") for (int64_t j = 0; j < d; j++) {             \
            ds += (double)g[j] * p[j];                                                            \
            db += g[j];                                                                           \
          }                                                                                       \
        }                                                                                         \
        double cb, cc;                                                                            \
        oml_ln_backward_coefs(ds, db, mu, rstd, (double)d, &cb, &cc);                             \
        const T ta = (T)rstd, tb = (T)cb, tc = (T)cc;                                             \
        T *q = dx + r * d;                                                                        \
        if (w) for (int64_t j = 0; j < d; j++) q[j] = ta * g[j] * w[j] + tb * p[j] + tc;          \
        else for (int64_t j = 0; j < d; j++) q[j] = ta * g[j] + tb * p[j] + tc;                   \
      }                                                                                           \
    }                                                                                             \
  }

LN_FORWARD(ln_forward_f32, float)
LN_FORWARD(ln_forward_f64, double)
LN_BACKWARD(ln_backward_f32, float)
LN_BACKWARD(ln_backward_f64, double)

static void *data_or_null(const oml_tensor *t) { return t ? t->data_ : NULL; }

void oml_cpu_layer_norm_forward(const oml_tensor *x, oml_tensor *out, int64_t rows, int64_t d, const oml_tensor *w,
                                const oml_tensor *b, double eps, oml_tensor *save_mean, oml_tensor *save_invstd) {
  if (x->dtype_ == OML_FLOAT32)
    ln_forward_f32((const float *)x->data_, (float *)out->data_, rows, d, data_or_null(w), data_or_null(b), eps,
                   data_or_null(save_mean), data_or_null(save_invstd));
  else
    ln_forward_f64((const double *)x->data_, (double *)out->data_, rows, d, data_or_null(w), data_or_null(b), eps,
                   data_or_null(save_mean), data_or_null(save_invstd));
}

int oml_cpu_layer_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, int64_t rows, int64_t d,
                                const oml_tensor *w, const oml_tensor *mean, const oml_tensor *invstd, double *gw,
                                double *gb) {
  const int64_t nblocks = (rows + LN_BLOCK_ROWS - 1) / LN_BLOCK_ROWS;
  double *partial = NULL;
  if (gw || gb) {
    partial = malloc((size_t)(2 * nblocks * d) * sizeof(double) + 1);
    if (partial == NULL) return oml_error("out of memory for the parameter gradients' partial sums");
  }
  if (x->dtype_ == OML_FLOAT32)
    ln_backward_f32((const float *)x->data_, (const float *)dy->data_, data_or_null(dx), rows, d, data_or_null(w),
                    (const float *)mean->data_, (const float *)invstd->data_, partial);
  else
    ln_backward_f64((const double *)x->data_, (const double *)dy->data_, data_or_null(dx), rows, d,
                    data_or_null(w), (const double *)mean->data_, (const double *)invstd->data_, partial);
  if (partial == NULL) return 0;
  for (int64_t j = 0; j < d; j++) {
    if (gw) gw[j] = 0;
    if (gb) gb[j] = 0;
  }
  for (int64_t blk = 0; blk < nblocks; blk++) {
    const double *pw = partial + 2 * blk * d, *pb = pw + d;
    if (gw) for (int64_t j = 0; j < d; j++) gw[j] += pw[j];
    if (gb) for (int64_t j = 0; j < d; j++) gb[j] += pb[j];
  }
  free(partial);
  return 0;
}
