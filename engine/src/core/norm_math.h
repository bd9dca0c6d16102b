/* norm_math.h — batch norm's and layer norm's per-channel and per-row
 * coefficients, shared by the CPU and CUDA kernels (all in float64). */
#ifndef OML_NORM_MATH_H
#define OML_NORM_MATH_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define OML_HD __host__ __device__
#else
#define OML_HD
#endif

/* Batch norm on input viewed as [n, c, s] (s: the product of the dims after 1). */
typedef struct oml_bn_shape {
  int64_t n, c, s;
} oml_bn_shape;

/* A running statistic after one batch: momentum * batch + (1 - momentum) * running */
OML_HD static inline double oml_norm_running(double momentum, double batch, double running) {
  return momentum * batch + (1 - momentum) * running;
}

/* 1 / sqrt(var_sum / m + eps); batch norm evaluation passes the running variance and m = 1 */
OML_HD static inline double oml_norm_invstd(double var_sum, double m, double eps) {
  return 1 / sqrt(var_sum / m + eps);
}

/* The scale w / sqrt(var_sum / m + eps) and shift b - mean * scale of out = x * scale + shift;
 * evaluation passes the running variance and m = 1 */
OML_HD static inline void oml_bn_train_affine(double w, double b, double mean, double var_sum, double m, double eps,
                                              double *scale, double *shift) {
  *scale = w / sqrt(var_sum / m + eps);
  *shift = b - mean * *scale;
}

/* Batch norm backward per channel: dx = (dy - gm - (x - mean) * k) * a, from
 * sum_dy, dot = sum((x - mean) * dy) over m values; gm = k = 0 in evaluation. */
OML_HD static inline void oml_bn_backward_coefs(double sum_dy, double dot, double invstd, double w, double m,
                                                int32_t training, double *a, double *gm, double *k) {
  *a = invstd * w;
  *gm = training ? sum_dy / m : 0;
  *k = training ? dot * invstd * invstd / m : 0;
}

/* Layer norm backward per row, PyTorch's form dx = rstd * dy * w + cb * x + cc,
 * from ds = sum(dy * w * x), db = sum(dy * w) over the row's d values. */
OML_HD static inline void oml_ln_backward_coefs(double ds, double db, double mu, double rstd, double d, double *cb,
                                                double *cc) {
  *cb = (db * mu - ds) * rstd * rstd * rstd / d;
  *cc = -*cb * mu - db * rstd / d;
}

#endif /* OML_NORM_MATH_H */
