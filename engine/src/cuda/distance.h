/* cuda/distance.h — CUDA kernels for normalize and cdist (arguments already
 * checked by ops/distance.c), with cpu/distance.h's per-element math. */
#ifndef OML_CUDA_DISTANCE_H
#define OML_CUDA_DISTANCE_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* oml_cpu_normalize on a device: out = a / max(||a||_p, eps) along dim. */
int oml_cuda_normalize(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps);

/* norms[i] = the squared norm of row i of the matrix x, summed in float64;
 * norms points to rows doubles on x's device. */
int oml_cuda_row_sqnorms(const oml_tensor *x, double *norms);

/* oml_cpu_cdist_direct and oml_cpu_cdist_finish on a device (xx and yy
 * float64 [rows] on the device). */
int oml_cuda_cdist_direct(const oml_tensor *x, const oml_tensor *y, oml_tensor *out);
int oml_cuda_cdist_finish(const oml_tensor *xx, const oml_tensor *yy, oml_tensor *out, int32_t metric);

#ifdef __cplusplus
}
#endif

#endif
