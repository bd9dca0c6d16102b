/* cpu/index.h — CPU kernels for gather/scatter-style indexing, masks and
 * nonzero (arguments already checked: index values are in range), and the
 * line walker they share with cpu/sort.c. */
#ifndef OML_CPU_INDEX_H
#define OML_CPU_INDEX_H

#include "../core/internal.h"

/* ---- lines ----------------------------------------------------------------
 * The lines of a few operands along one dim: line l (row-major over the
 * other dims) of operand i starts at base[i] + sum over the other dims of
 * coordinate * outer_stride[i][.] and steps by step[i]. A 0-d geometry is
 * one line of one element. Strides are in bytes. */

#define OML_LINES_MAX_OPS 3

typedef struct oml_lines {
  int32_t nops, nouter;
  int64_t count, len;
  int64_t outer_size[OML_MAX_DIMS];
  int64_t outer_stride[OML_LINES_MAX_OPS][OML_MAX_DIMS];
  int64_t step[OML_LINES_MAX_OPS];
  char *base[OML_LINES_MAX_OPS];
} oml_lines;

/* Lines over the sizes `size` (ndim dims) along dim; each operand's strides
 * come from its own tensor, which must have ndim dims. */
void oml_lines_init(oml_lines *l, int32_t nops, const oml_tensor *const *ops, int32_t ndim, const int64_t *size,
                    int32_t dim);
void oml_lines_start(const oml_lines *l, int64_t line, char **ptrs);

/* *d = *s for one element of elsize bytes */
static inline void oml_copy_elem(char *d, const char *s, int64_t elsize) {
  switch (elsize) {
  case 1: *d = *s; break;
  case 2: memcpy(d, s, 2); break;
  case 4: memcpy(d, s, 4); break;
  default: memcpy(d, s, 8); break;
  }
}

/* ---- kernels ------------------------------------------------------------- */

/* 1 and the first index (in row-major order) outside 1..limit in *bad, or 0 */
int oml_cpu_find_bad_index(const oml_tensor *index, int64_t limit, int64_t *bad);

/* out = a gathered along dim by index (index, out: the same sizes; any dtype) */
void oml_cpu_gather(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim);

/* dst along dim at index = src (or += alpha * src when accumulate); index
 * and src have the same sizes. Positions that hit the same element of dst
 * are applied in row-major order of index, whatever the thread count. */
void oml_cpu_scatter(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, int32_t accumulate,
                     double alpha);

/* dst = value where mask (bool, expanded to dst's sizes) is true */
void oml_cpu_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value);
/* the number of true elements of a bool tensor */
int64_t oml_cpu_count_true(const oml_tensor *mask);
/* out (1-d, count_true(mask) elements) = the elements of a where mask is
 * true, in row-major order; a and mask have the same sizes */
void oml_cpu_masked_select(const oml_tensor *a, const oml_tensor *mask, oml_tensor *out);
/* out [count_true(mask), ndim] int64 = the 1-based coordinates of the true
 * elements of a contiguous bool tensor, in row-major order */
void oml_cpu_nonzero(const oml_tensor *mask, oml_tensor *out);

#endif
