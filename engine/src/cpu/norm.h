/* cpu/norm.h — CPU kernels for batch norm and layer norm. Arguments are
 * already checked; data tensors (input, grad_out, out, grad_input) are
 * contiguous and of one dtype (float32 or float64). Per-channel and
 * per-column quantities travel as float64 arrays: the callers read and write
 * the small parameter and statistics tensors themselves. */
#ifndef OML_CPU_NORM_H
#define OML_CPU_NORM_H

#include "../core/internal.h"
#include "../core/norm_math.h"

/* Training: the batch's mean and sum of squared deviations per channel
 * (float64 sums, two passes), then out = (x - mean) * invstd * w + b with
 * invstd = 1 / sqrt(var_sum / (n*s) + eps); w, b NULL for 1 and 0. */
int oml_cpu_batch_norm_train(const oml_tensor *x, oml_tensor *out, oml_bn_shape sh, const double *w,
                             const double *b, double eps, double *mean, double *var_sum);
/* out = x * scale[c] + shift[c] */
void oml_cpu_batch_norm_affine(const oml_tensor *x, oml_tensor *out, oml_bn_shape sh, const double *scale,
                               const double *shift);
/* Per channel: sum_dy = sum(dy), dot = sum((x - mean) * dy); then, when dx
 * is not NULL, dx = (dy - sum_dy/m - (x - mean) * dot * invstd^2/m) * invstd * w
 * in training (m = n*s) and dx = dy * invstd * w in evaluation. */
int oml_cpu_batch_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, oml_bn_shape sh,
                                const double *mean, const double *invstd, const double *w, int32_t training,
                                double *sum_dy, double *dot);

/* Layer norm of rows [rows, d]: mean and invstd per row go to save_mean and
 * save_invstd ([rows] of x's dtype, contiguous; may be NULL); w, b are
 * contiguous [d] of x's dtype or NULL. */
void oml_cpu_layer_norm_forward(const oml_tensor *x, oml_tensor *out, int64_t rows, int64_t d, const oml_tensor *w,
                                const oml_tensor *b, double eps, oml_tensor *save_mean, oml_tensor *save_invstd);
/* dx (may be NULL) and the column sums gw = sum(dy * xhat), gb = sum(dy)
 * (float64 [d], written, each may be NULL), from the saved row statistics. */
int oml_cpu_layer_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, int64_t rows, int64_t d,
                                const oml_tensor *w, const oml_tensor *mean, const oml_tensor *invstd, double *gw,
                                double *gb);

#endif
