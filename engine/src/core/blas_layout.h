/* core/blas_layout.h — how a BLAS (OpenBLAS or cuBLAS) reads a matrix where it
 * lies: one whose last stride is 1 as a row-major matrix, one whose first
 * stride is 1 as a column-major one (a transposed operand), so transposed
 * views cost no copy. Metadata only: the same on every device. */
#ifndef OML_BLAS_LAYOUT_H
#define OML_BLAS_LAYOUT_H

#include "internal.h"

#include <limits.h>

/* How BLAS sees one matrix. */
typedef struct oml_blas_layout {
  int col_major;
  int64_t ld; /* leading dimension, in elements */
} oml_blas_layout;

/* The layout of an r x c matrix with strides s0, s1; 0 when BLAS cannot read it. */
static inline int oml_blas_matrix_layout(int64_t r, int64_t c, int64_t s0, int64_t s1, oml_blas_layout *l) {
  int64_t row_ld = c > 1 ? c : 1, col_ld = r > 1 ? r : 1;
  if (r == 0 || c == 0) {
    l->col_major = 0;
    l->ld = row_ld;
    return 1;
  }
  if ((c == 1 || s1 == 1) && (r == 1 || s0 >= row_ld)) {
    l->col_major = 0;
    l->ld = r == 1 ? row_ld : s0;
  } else if ((r == 1 || s0 == 1) && (c == 1 || s1 >= col_ld)) {
    l->col_major = 1;
    l->ld = c == 1 ? col_ld : s1;
  } else {
    return 0;
  }
  return l->ld <= INT_MAX;
}

/* The layout of the matrix in t's last two dims. */
static inline int oml_blas_tensor_layout(const oml_tensor *t, oml_blas_layout *l) {
  int32_t nd = t->ndim_;
  return oml_blas_matrix_layout(t->size_[nd - 2], t->size_[nd - 1], t->stride_[nd - 2], t->stride_[nd - 1], l);
}

/* 1 when BLAS can read the matrix in t's last two dims where it lies: one
 * of them has stride 1 and the other a leading dimension BLAS accepts.
 * Zero-size matrices always qualify (BLAS never reads them). */
static inline int oml_blas_readable(const oml_tensor *t) {
  oml_blas_layout l;
  return t->ndim_ >= 2 && oml_blas_tensor_layout(t, &l);
}

/* 1 when BLAS can also write t in place: readable, and no two matrices of
 * its batch (the dims before the last two) overlap. */
static inline int oml_blas_writable(const oml_tensor *t) {
  oml_blas_layout l;
  if (t->ndim_ < 2 || !oml_blas_tensor_layout(t, &l)) return 0;
  if (t->numel_ == 0) return 1;
  int32_t nd = t->ndim_;
  int64_t r = t->size_[nd - 2], c = t->size_[nd - 1];
  /* elements spanned so far, from the matrix outwards; each batch dim must step past it */
  int64_t span = l.col_major ? (c - 1) * l.ld + r : (r - 1) * l.ld + c;
  for (int32_t d = nd - 3; d >= 0; d--) {
    if (t->size_[d] == 1) continue;
    if (t->stride_[d] < span) return 0;
    span += t->stride_[d] * (t->size_[d] - 1);
  }
  return 1;
}

/* ready becomes t itself (a view) when BLAS can read it, else a contiguous
 * copy on t's device. */
static inline int oml_blas_operand(const oml_tensor *t, oml_tensor *ready) {
  if (oml_blas_readable(t)) return oml_tensor_alias(t, ready);
  return oml_tensor_clone(t, ready);
}

#endif
