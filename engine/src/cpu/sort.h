/* cpu/sort.h — CPU kernels for sort and topk (arguments already checked;
 * values or indices may be NULL). The keys are core/sort_math.h's. */
#ifndef OML_CPU_SORT_H
#define OML_CPU_SORT_H

#include "../core/internal.h"
#include "../core/sort_math.h"

/* Sorts every line of a along dim (stable: equal elements keep their order). */
int oml_cpu_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t descending);
/* The k largest (or smallest) of every line, in that order; ties go to the
 * lower index. */
int oml_cpu_topk(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                 int32_t largest);

#endif
