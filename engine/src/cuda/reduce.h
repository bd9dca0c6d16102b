/* cuda/reduce.h — CUDA kernels for reductions, arg-extremes and cumulative
 * sums and products, with cpu/reduce.h's contract: arguments checked, mask
 * nonzero, outputs contiguous with the result's shape and dtype, the inputs
 * of mean, logsumexp, var and norm floating, and cumulate's input contiguous
 * and float32, float64 or int64. */
#ifndef OML_CUDA_REDUCE_H
#define OML_CUDA_REDUCE_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* op is one of OML_SUM .. OML_LOGSUMEXP */
int oml_cuda_reduce(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t mask);
int oml_cuda_var(const oml_tensor *a, oml_tensor *out, uint32_t mask, int32_t correction, int32_t take_sqrt);
int oml_cuda_norm(const oml_tensor *a, oml_tensor *out, uint32_t mask, double p);
/* values (a's dtype) and/or indices (int64, 1-based); either may be NULL */
int oml_cuda_max_dim(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t is_min);
int oml_cuda_cumulate(const oml_tensor *a, oml_tensor *out, int32_t dim, int32_t is_prod);

#ifdef __cplusplus
}
#endif

#endif
