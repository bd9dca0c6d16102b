/* cpu/copy.h — CPU kernels for copies and fills (arguments already checked). */
#ifndef OML_CPU_COPY_H
#define OML_CPU_COPY_H

#include "../core/internal.h"

/* dst = src, src already expanded to dst's sizes; converts dtypes */
void oml_cpu_copy(const oml_tensor *src, oml_tensor *dst);
void oml_cpu_fill(oml_tensor *t, double value);

#endif
