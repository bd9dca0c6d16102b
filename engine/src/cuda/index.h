/* cuda/index.h — CUDA kernels for gather/scatter-style indexing, masks and
 * nonzero (arguments already checked; every tensor on one device; index
 * values checked with oml_cuda_find_bad_index before any other kernel). */
#ifndef OML_CUDA_INDEX_H
#define OML_CUDA_INDEX_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* *found = 1 and *bad = the first index value (in row-major order) outside
 * 1..limit, or *found = 0. Copies two numbers to the host (and so waits for
 * the device): the error must be known before anything is written. */
int oml_cuda_find_bad_index(const oml_tensor *index, int64_t limit, int *found, int64_t *bad);

/* out = a gathered along dim by index (index, out: the same sizes; any dtype) */
int oml_cuda_gather(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim);

/* dst along dim at index = src, or += alpha * src when accumulate (float32,
 * float64, int32, int64, uint8); index and src have the same sizes (src may
 * be larger). Without accumulate, positions that hit one element of dst run
 * in row-major order of index, as on the CPU; with it, integer sums equal
 * the CPU's exactly and float sums may differ in order (atomics). */
int oml_cuda_scatter(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim,
                     int32_t accumulate, double alpha);

/* index_copy: the slices of dst along dim at a 0-d or 1-d index = src's
 * slices; for a value repeated in the index the last slice wins, as on the
 * CPU. */
int oml_cuda_index_copy(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim);
/* index_fill: the slices of dst along dim at a 0-d or 1-d index = value */
int oml_cuda_index_fill(const oml_tensor *index, oml_tensor *dst, int32_t dim, double value);

/* dst = value where mask (bool, expanded to dst's sizes) is true */
int oml_cuda_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value);

/* The running count of true elements of a bool tensor (any strides) in
 * row-major order, in a fresh device array of mask->numel_ int64 (*positions,
 * NULL when empty; the caller frees it with oml_free(p, numel * 8, device)),
 * and the total in *count, copied to the host: the results of masked_select
 * and nonzero have that size. */
int oml_cuda_count_true(const oml_tensor *mask, int64_t **positions, int64_t *count);
/* out (1-d) = the elements of a where mask is true, in row-major order; a
 * and mask have the same sizes, positions from oml_cuda_count_true(mask) */
int oml_cuda_masked_select(const oml_tensor *a, const oml_tensor *mask, const int64_t *positions, oml_tensor *out);
/* out [count, ndim] int64 = the 1-based coordinates of the true elements of
 * mask, in row-major order; positions from oml_cuda_count_true(mask) */
int oml_cuda_nonzero(const oml_tensor *mask, const int64_t *positions, oml_tensor *out);

#ifdef __cplusplus
}
#endif

#endif
