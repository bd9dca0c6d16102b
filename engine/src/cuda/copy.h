/* cuda/copy.h — CUDA kernels for copies and fills (arguments already
 * checked; src and dst on one device). */
#ifndef OML_CUDA_COPY_H
#define OML_CUDA_COPY_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst = src, src already expanded to dst's sizes; converts dtypes as the CPU does */
int oml_cuda_copy(const oml_tensor *src, oml_tensor *dst);
int oml_cuda_fill(oml_tensor *t, double value);

#ifdef __cplusplus
}
#endif

#endif
