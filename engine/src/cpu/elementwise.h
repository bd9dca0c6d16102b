/* cpu/elementwise.h — CPU kernels for unary, binary, clamp and where.
 * Operands are already expanded to out's sizes and converted: a and b have
 * the compute dtype; out has it too, or bool for comparisons and logical ops. */
#ifndef OML_CPU_ELEMENTWISE_H
#define OML_CPU_ELEMENTWISE_H

#include "../core/internal.h"

int oml_cpu_unary(const oml_tensor *a, oml_tensor *out, int32_t op);
int oml_cpu_binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op);
void oml_cpu_clamp(const oml_tensor *a, oml_tensor *out, double low, double high);
/* out = cond ? a : b, with a, b and out of one dtype */
void oml_cpu_where(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out);

#endif
