/* cpu/linalg.h — CPU matrix products through OpenBLAS (arguments already
 * checked by ops/linalg.c and ops/distance.c). */
#ifndef OML_CPU_LINALG_H
#define OML_CPU_LINALG_H

#include "../core/internal.h"

/* 1 when BLAS can read the matrix in t's last two dims where it lies: one
 * of them has stride 1 and the other a leading dimension BLAS accepts.
 * Zero-size matrices always qualify (BLAS never reads them). */
int oml_cpu_blas_readable(const oml_tensor *t);

/* 1 when BLAS can also write t in place: readable, and no two matrices of
 * its batch (the dims before the last two) overlap. */
int oml_cpu_blas_writable(const oml_tensor *t);

/* ready becomes t itself (a view) when BLAS can read it, else a contiguous copy. */
int oml_cpu_blas_operand(const oml_tensor *t, oml_tensor *ready);

/* out[i] = alpha * a[i] @ b[i] + beta * out[i] for every batch index i.
 * a [..., m, k], b [..., k, n] and out [..., m, n] are float32 or float64 of
 * one dtype and one ndim (>= 2) with equal batch sizes (a and b may be
 * expanded views); a and b are readable, out is writable and shares no
 * memory with them; m, n, k fit in an int. beta 0 ignores out's old
 * contents (NaN too); k 0 scales out by beta. */
void oml_cpu_gemm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta);

#endif
