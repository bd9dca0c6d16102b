/* cuda/elementwise.h — CUDA kernels for unary, binary, clamp and where, as
 * cpu/elementwise.h: operands already expanded to out's sizes, converted to
 * the compute dtype and on out's device; out has that dtype too, or bool
 * for comparisons, logical ops and logical_not. */
#ifndef OML_CUDA_ELEMENTWISE_H
#define OML_CUDA_ELEMENTWISE_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

int oml_cuda_unary(const oml_tensor *a, oml_tensor *out, int32_t op);
int oml_cuda_binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op);
/* bounds already limited to the dtype's range (see ops/elementwise.c) */
int oml_cuda_clamp(const oml_tensor *a, oml_tensor *out, double low, double high);
/* out = cond ? a : b, with a, b and out of one dtype */
int oml_cuda_where(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out);

#ifdef __cplusplus
}
#endif

#endif
