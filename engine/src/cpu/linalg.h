/* cpu/linalg.h — CPU matrix products through OpenBLAS (arguments already
 * checked by ops/linalg.c and ops/distance.c). */
#ifndef OML_CPU_LINALG_H
#define OML_CPU_LINALG_H

#include "../core/internal.h"

/* out[i] = alpha * a[i] @ b[i] + beta * out[i] for every batch index i.
 * a [..., m, k], b [..., k, n] and out [..., m, n] are float32 or float64 of
 * one dtype and one ndim (>= 2) with equal batch sizes (a and b may be
 * expanded views); a and b are readable, out is writable (core/blas_layout.h)
 * and shares no memory with them; m, n, k fit in an int. beta 0 ignores out's old
 * contents (NaN too); k 0 scales out by beta. */
void oml_cpu_gemm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta);

#endif
