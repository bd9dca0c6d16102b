/* cpu/reduce.h — CPU kernels for reductions, arg-extremes and cumulative
 * sums and products. Arguments are already checked: mask is nonzero and
 * names existing dims, outputs are contiguous with the result's shape and
 * dtype, and the inputs of the float-valued reductions (mean, logsumexp,
 * var, norm) are floating. */
#ifndef OML_CPU_REDUCE_H
#define OML_CPU_REDUCE_H

#include "../core/internal.h"

/* op is one of OML_SUM .. OML_LOGSUMEXP */
int oml_cpu_reduce(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t mask);
int oml_cpu_var(const oml_tensor *a, oml_tensor *out, uint32_t mask, int32_t correction, int32_t take_sqrt);
int oml_cpu_norm(const oml_tensor *a, oml_tensor *out, uint32_t mask, double p);
/* values (a's dtype) and/or indices (int64, 1-based); either may be NULL */
int oml_cpu_max_dim(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t is_min);
/* a is contiguous and float32, float64 or int64; out has a's shape and dtype */
void oml_cpu_cumulate(const oml_tensor *a, oml_tensor *out, int32_t dim, int32_t is_prod);

#endif
