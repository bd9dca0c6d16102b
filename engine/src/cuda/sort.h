/* cuda/sort.h — CUDA kernels for sort and topk, with cpu/sort.h's contract
 * (arguments already checked; values or indices may be NULL). */
#ifndef OML_CUDA_SORT_H
#define OML_CUDA_SORT_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sorts every line of a along dim (stable: equal elements keep their order). */
int oml_cuda_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t descending);
/* The k largest (or smallest) of every line, in that order; ties go to the
 * lower index. */
int oml_cuda_topk(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                  int32_t largest);

#ifdef __cplusplus
}
#endif

#endif
