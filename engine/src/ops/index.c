/* ops/index.c — index_select/add/copy/fill, gather, scatter, masked_fill,
 * masked_select and nonzero: checks, result shapes, then the CPU or CUDA
 * kernels.
 *
 * The index_* ops are gathers and scatters whose index is spread over the
 * other dims with stride 0, so two kernels serve all six (CUDA has its own
 * index_copy and index_fill). Every index value is checked before anything
 * is written, on the index's device. */
#include "../core/internal.h"
#include "../cpu/index.h"
#ifdef OML_WITH_CUDA
#include "../cuda/index.h"
#endif

#include <math.h>
#include <stdio.h>

static int check_index_tensor(const oml_tensor *index, const oml_tensor *ref, const char *whom) {
  return oml_check_index_dtype(index, "the index") || oml_check_device(index, "the index", ref, whom) ? -1 : 0;
}

static int find_bad_index(const oml_tensor *index, int64_t limit, int *found, int64_t *bad) {
#ifdef OML_WITH_CUDA
  if (index->device_ != OML_CPU) return oml_cuda_find_bad_index(index, limit, found, bad);
#endif
  *found = oml_cpu_find_bad_index(index, limit, bad);
  return 0;
}

/* every value of index in 1..size (the size of dim) */
static int check_range(const oml_tensor *index, int64_t size, int32_t dim) {
  int64_t bad;
  int found;
  if (find_bad_index(index, size, &found, &bad)) return -1;
  if (!found) return 0;
  if (size == 0) return oml_error("index %lld is out of range for dim %d of size 0", (long long)bad, dim + 1);
  return oml_error("index %lld is out of range 1..%lld for dim %d", (long long)bad, (long long)size, dim + 1);
}

static int check_same_dtype(const oml_tensor *src, const oml_tensor *dst) {
  if (src->dtype_ == dst->dtype_) return 0;
  return oml_error("the source is %s but the destination is %s", oml_dtype_name(src->dtype_),
                   oml_dtype_name(dst->dtype_));
}

/* A kernel that writes `written` while reading `read` would see its own
 * writes, so overlapping memory is refused (as PyTorch does). */
static int check_apart(const oml_tensor *read, const char *what, const oml_tensor *written, const char *whom) {
  if (read->storage_ != written->storage_) return 0;
  int64_t a0, a1, b0, b1;
  oml_tensor_span(read, &a0, &a1);
  oml_tensor_span(written, &b0, &b1);
  if (a0 > a1 || b0 > b1 || a1 < b0 || b1 < a0) return 0;
  return oml_error("%s and %s overlap in memory (clone one of them first)", what, whom);
}

/* dst is written from src along index: no element of dst may be written twice
 * at once, nor be read as src or index */
static int check_writer(const oml_tensor *src, const oml_tensor *index, const oml_tensor *dst) {
  if (oml_check_writable(dst, "the destination")) return -1;
  return check_apart(src, "the source", dst, "the destination") || check_apart(index, "the index", dst, "the destination")
             ? -1
             : 0;
}

/* ---- index_select, index_add, index_copy, index_fill ------------------------ */

/* t is indexed along dim by a 0-d or 1-d index */
static int check_index_op(const oml_tensor *t, const char *what, const oml_tensor *index, int32_t dim) {
  if (oml_check_set(t, what) || check_index_tensor(index, t, what)) return -1;
  if (t->ndim_ == 0) return oml_error("%s is 0-d: it has no dim to index", what);
  if (oml_check_dim(dim, t->ndim_)) return -1;
  if (index->ndim_ > 1) {
    char a[OML_SHAPE_BUF];
    return oml_error("the index must be 0-d or 1-d (got shape %s)", oml_shape_str(index, a));
  }
  return 0;
}

/* index as a tensor of `size` that moves only along dim. It borrows index's
 * storage and is never released. */
static oml_tensor spread_index(const oml_tensor *index, int32_t ndim, const int64_t *size, int32_t dim) {
  oml_tensor v = *index;
  v.ndim_ = ndim;
  v.numel_ = 1;
  for (int32_t d = 0; d < ndim; d++) {
    v.size_[d] = size[d];
    v.stride_[d] = 0;
    v.numel_ *= size[d];
  }
  v.stride_[dim] = index->ndim_ > 0 ? index->stride_[0] : 0;
  return v;
}

/* src must be dst's shape with as many entries along dim as the index */
static int check_source_shape(const oml_tensor *src, const oml_tensor *dst, int32_t dim, int64_t n) {
  int64_t want[OML_MAX_DIMS];
  memcpy(want, dst->size_, sizeof want);
  want[dim] = n;
  int same = src->ndim_ == dst->ndim_;
  for (int32_t d = 0; same && d < dst->ndim_; d++) same = src->size_[d] == want[d];
  if (same) return 0;
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  return oml_error("the source has shape %s but needs %s for %lld indices along dim %d", oml_shape_str(src, a),
                   oml_sizes_str(dst->ndim_, want, b), (long long)n, dim + 1);
}

int oml_index_select(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim) {
  if (check_index_op(a, "the input", index, dim) || check_range(index, a->size_[dim], dim)) return -1;
  int64_t size[OML_MAX_DIMS];
  memcpy(size, a->size_, sizeof size);
  size[dim] = index->numel_;
  if (oml_out_prepare(out, a->ndim_, size, a->dtype_, a->device_) || check_apart(a, "the input", out, "the output") ||
      check_apart(index, "the index", out, "the output"))
    return -1;
  oml_tensor spread = spread_index(index, a->ndim_, size, dim);
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_gather(a, &spread, out, dim);
#endif
  oml_cpu_gather(a, &spread, out, dim);
  return 0;
}

int oml_index_add(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, double alpha) {
  if (check_index_op(dst, "the destination", index, dim) || oml_check_math(dst, "the destination") ||
      oml_check_device(src, "the source", dst, "the destination") || check_same_dtype(src, dst))
    return -1;
  if (dst->dtype_ == OML_BOOL) return oml_error("cannot add into a bool tensor");
  if (!oml_is_floating(dst->dtype_) && !(alpha == floor(alpha) && fabs(alpha) < 9.2e18))
    return oml_error("alpha must be an integer for a %s tensor (got %g)", oml_dtype_name(dst->dtype_), alpha);
  if (check_source_shape(src, dst, dim, index->numel_) || check_writer(src, index, dst) ||
      check_range(index, dst->size_[dim], dim))
    return -1;
  oml_tensor spread = spread_index(index, dst->ndim_, src->size_, dim);
#ifdef OML_WITH_CUDA
  if (dst->device_ != OML_CPU) return oml_cuda_scatter(src, &spread, dst, dim, 1, alpha);
#endif
  oml_cpu_scatter(src, &spread, dst, dim, 1, alpha);
  return 0;
}

int oml_index_copy(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim) {
  if (check_index_op(dst, "the destination", index, dim) || oml_check_device(src, "the source", dst, "the destination") ||
      check_same_dtype(src, dst) || check_source_shape(src, dst, dim, index->numel_) ||
      check_writer(src, index, dst) || check_range(index, dst->size_[dim], dim))
    return -1;
#ifdef OML_WITH_CUDA
  if (dst->device_ != OML_CPU) return oml_cuda_index_copy(src, index, dst, dim);
#endif
  oml_tensor spread = spread_index(index, dst->ndim_, src->size_, dim);
  oml_cpu_scatter(src, &spread, dst, dim, 0, 1);
  return 0;
}

int oml_index_fill(const oml_tensor *index, oml_tensor *dst, int32_t dim, double value) {
  if (check_index_op(dst, "the destination", index, dim) || oml_check_writable(dst, "the destination") ||
      check_apart(index, "the index", dst, "the destination") || check_range(index, dst->size_[dim], dim))
    return -1;
#ifdef OML_WITH_CUDA
  if (dst->device_ != OML_CPU) return oml_cuda_index_fill(index, dst, dim, value);
#endif
  int64_t size[OML_MAX_DIMS];
  memcpy(size, dst->size_, sizeof size);
  size[dim] = index->numel_;
  /* the value as a source of that shape with every stride 0 */
  uint64_t buffer = 0;
  oml_store((char *)&buffer, dst->dtype_, value);
  oml_tensor src = spread_index(index, dst->ndim_, size, dim);
  src.data_ = (char *)&buffer;
  src.stride_[dim] = 0;
  src.dtype_ = dst->dtype_;
  oml_tensor spread = spread_index(index, dst->ndim_, size, dim);
  oml_cpu_scatter(&src, &spread, dst, dim, 0, 1);
  return 0;
}

/* ---- gather and scatter --------------------------------------------------------- */

/* index has t's dims and, outside dim (or everywhere when dim < 0), no
 * larger sizes */
static int check_fits(const oml_tensor *index, const oml_tensor *t, const char *what, int32_t dim) {
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  if (index->ndim_ != t->ndim_)
    return oml_error("the index has %d dims but %s has %d", index->ndim_, what, t->ndim_);
  for (int32_t d = 0; d < t->ndim_; d++) {
    if (d == dim || index->size_[d] <= t->size_[d]) continue;
    if (dim < 0)
      return oml_error("the index of shape %s is larger than %s of shape %s", oml_shape_str(index, a), what,
                       oml_shape_str(t, b));
    return oml_error("the index of shape %s is larger than %s of shape %s outside dim %d", oml_shape_str(index, a),
                     what, oml_shape_str(t, b), dim + 1);
  }
  return 0;
}

int oml_gather(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim) {
  if (oml_check_set(a, "the input") || check_index_tensor(index, a, "the input")) return -1;
  if (a->ndim_ == 0) return oml_error("the input is 0-d: it has no dim to index");
  if (oml_check_dim(dim, a->ndim_) || check_fits(index, a, "the input", dim) ||
      check_range(index, a->size_[dim], dim))
    return -1;
  if (oml_out_prepare(out, index->ndim_, index->size_, a->dtype_, a->device_) ||
      check_apart(a, "the input", out, "the output") || check_apart(index, "the index", out, "the output"))
    return -1;
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_gather(a, index, out, dim);
#endif
  oml_cpu_gather(a, index, out, dim);
  return 0;
}

int oml_scatter(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, int32_t accumulate) {
  if (oml_check_set(dst, "the destination") || oml_check_device(src, "the source", dst, "the destination") ||
      check_index_tensor(index, dst, "the destination") || check_same_dtype(src, dst))
    return -1;
  if (dst->ndim_ == 0) return oml_error("the destination is 0-d: it has no dim to index");
  if (accumulate != 0 && accumulate != 1) return oml_error("accumulate must be 0 or 1 (got %d)", accumulate);
  if (accumulate && (oml_check_math(dst, "the destination"))) return -1;
  if (accumulate && dst->dtype_ == OML_BOOL) return oml_error("cannot add into a bool tensor");
  if (oml_check_dim(dim, dst->ndim_) || check_fits(index, dst, "the destination", dim) ||
      check_fits(index, src, "the source", -1) || check_writer(src, index, dst) ||
      check_range(index, dst->size_[dim], dim))
    return -1;
#ifdef OML_WITH_CUDA
  if (dst->device_ != OML_CPU) return oml_cuda_scatter(src, index, dst, dim, accumulate, 1);
#endif
  oml_cpu_scatter(src, index, dst, dim, accumulate, 1);
  return 0;
}

/* ---- masks and nonzero ---------------------------------------------------------- */

static int check_mask(const oml_tensor *mask, const oml_tensor *ref, const char *whom) {
  if (oml_check_device(mask, "the mask", ref, whom)) return -1;
  if (mask->dtype_ != OML_BOOL) return oml_error("the mask must be a bool tensor (got %s)", oml_dtype_name(mask->dtype_));
  return 0;
}

static int run_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value) {
#ifdef OML_WITH_CUDA
  if (dst->device_ != OML_CPU) return oml_cuda_masked_fill(mask, dst, value);
#endif
  oml_cpu_masked_fill(mask, dst, value);
  return 0;
}

int oml_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value) {
  if (oml_check_set(dst, "the tensor") || oml_check_writable(dst, "the tensor") || check_mask(mask, dst, "the tensor"))
    return -1;
  oml_tensor expanded = oml_tensor_unset();
  if (oml_tensor_expand(mask, &expanded, dst->ndim_, dst->size_)) {
    char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
    return oml_error("the mask of shape %s cannot be broadcast to the tensor's shape %s", oml_shape_str(mask, a),
                     oml_shape_str(dst, b));
  }
  int rc = 0;
  if (oml_may_overlap(&expanded, dst)) { /* a bool tensor filled by a view of itself: read the mask first */
    oml_tensor copy = oml_tensor_unset();
    rc = oml_tensor_clone(&expanded, &copy);
    oml_tensor_release(&expanded);
    expanded = copy;
  }
  if (rc == 0) rc = run_masked_fill(&expanded, dst, value);
  oml_tensor_release(&expanded);
  return rc;
}

/* The number of true elements of mask; on a device, also their running
 * count (*positions, freed by the caller), which the kernels that fill the
 * result read. The result's size depends on the data: on a device the count
 * is copied to the host, then the result is allocated and filled. */
static int count_true(const oml_tensor *mask, int64_t **positions, int64_t *count) {
  *positions = NULL;
#ifdef OML_WITH_CUDA
  if (mask->device_ != OML_CPU) return oml_cuda_count_true(mask, positions, count);
#endif
  *count = oml_cpu_count_true(mask);
  return 0;
}

static void free_positions(int64_t *positions, const oml_tensor *mask) {
  if (positions != NULL) oml_free(positions, mask->numel_ * (int64_t)sizeof(int64_t), mask->device_);
}

int oml_masked_select(const oml_tensor *a, const oml_tensor *mask, oml_tensor *out) {
  if (oml_check_set(a, "the input") || check_mask(mask, a, "the input")) return -1;
  const oml_tensor *ts[2] = {a, mask};
  int32_t ndim;
  int64_t size[OML_MAX_DIMS], *positions = NULL;
  if (oml_broadcast_shapes(2, ts, &ndim, size)) return -1;
  oml_tensor ae = oml_tensor_unset(), me = oml_tensor_unset();
  int rc = oml_tensor_expand(a, &ae, ndim, size);
  if (rc == 0) rc = oml_tensor_expand(mask, &me, ndim, size);
  if (rc == 0) {
    int64_t count;
    rc = count_true(&me, &positions, &count);
    if (rc == 0) rc = oml_out_prepare(out, 1, &count, a->dtype_, a->device_);
  }
  if (rc == 0 && (check_apart(a, "the input", out, "the output") || check_apart(mask, "the mask", out, "the output")))
    rc = -1;
#ifdef OML_WITH_CUDA
  if (rc == 0 && out->device_ != OML_CPU) rc = oml_cuda_masked_select(&ae, &me, positions, out);
#endif
  if (rc == 0 && out->device_ == OML_CPU) oml_cpu_masked_select(&ae, &me, out);
  free_positions(positions, &me);
  oml_tensor_release(&ae);
  oml_tensor_release(&me);
  return rc;
}

int oml_nonzero(const oml_tensor *a, oml_tensor *out) {
  if (oml_check_set(a, "the input")) return -1;
  oml_tensor mask = oml_tensor_unset(); /* a contiguous bool copy: NaN counts as nonzero, -0.0 does not */
  int rc = a->dtype_ == OML_BOOL && oml_tensor_is_contiguous(a) ? oml_tensor_alias(a, &mask)
                                                                 : oml_tensor_to(a, &mask, OML_BOOL, a->device_);
  int64_t *positions = NULL;
  if (rc == 0) {
    int64_t size[2] = {0, a->ndim_};
    rc = count_true(&mask, &positions, &size[0]);
    if (rc == 0) rc = oml_out_prepare(out, 2, size, OML_INT64, a->device_);
  }
#ifdef OML_WITH_CUDA
  if (rc == 0 && out->device_ != OML_CPU) rc = oml_cuda_nonzero(&mask, positions, out);
#endif
  if (rc == 0 && out->device_ == OML_CPU) oml_cpu_nonzero(&mask, out);
  free_positions(positions, &mask);
  oml_tensor_release(&mask);
  return rc;
}
