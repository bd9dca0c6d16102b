/* tensor.c — tensor lifecycle, out tensors, views and broadcasting. */
#include "internal.h"

static int check_sizes(int32_t ndim, const int64_t *size) {
  if (ndim < 0 || ndim > OML_MAX_DIMS)
    return oml_error("a tensor has at most %d dims (got %d)", OML_MAX_DIMS, ndim);
  for (int32_t d = 0; d < ndim; d++)
    if (size[d] < 0) return oml_error("size %lld of dim %d is negative", (long long)size[d], d + 1);
  return 0;
}

/* The product of max(size, 1) over the dims; 0 when it exceeds an int64. */
static int64_t nonzero_product(int32_t ndim, const int64_t *size) {
  int64_t n = 1;
  for (int32_t d = 0; d < ndim; d++)
    if (__builtin_mul_overflow(n, size[d] > 0 ? size[d] : 1, &n)) return 0;
  return n;
}

/* numel = the product of the sizes. The sizes other than 0 must multiply
 * (by elsize too) within an int64, so that no product of sizes, strides or
 * byte offsets computed for the tensor overflows, even when it is empty. */
static int checked_numel(int32_t ndim, const int64_t *size, int64_t elsize, int64_t *numel) {
  int64_t n = nonzero_product(ndim, size);
  if (n == 0 || n > INT64_MAX / elsize) {
    char buf[OML_SHAPE_BUF];
    return oml_error("a tensor of size %s is too large", oml_sizes_str(ndim, size, buf));
  }
  for (int32_t d = 0; d < ndim; d++)
    if (size[d] == 0) n = 0;
  *numel = n;
  return 0;
}

void oml_tensor_set_contiguous_strides(oml_tensor *t) {
  int64_t n = 1;
  for (int32_t d = t->ndim_ - 1; d >= 0; d--) {
    t->stride_[d] = n;
    n *= t->size_[d];
  }
  t->numel_ = n;
}

int oml_tensor_empty(oml_tensor *out, int32_t ndim, const int64_t *size, int32_t dtype, int32_t device) {
  if (out == NULL) return oml_error("no output tensor");
  if (out->storage_ != NULL) return oml_error("the output tensor is already set");
  if (check_sizes(ndim, size)) return -1;
  int64_t elsize = oml_dtype_size(dtype);
  if (elsize == 0) return oml_error("unknown dtype %d", dtype);
  int64_t numel = 0;
  if (checked_numel(ndim, size, elsize, &numel)) return -1;
  oml_tensor t = oml_tensor_unset();
  t.ndim_ = ndim;
  t.dtype_ = dtype;
  t.device_ = device;
  for (int32_t d = 0; d < ndim; d++) t.size_[d] = size[d];
  oml_tensor_set_contiguous_strides(&t);
  t.storage_ = oml_storage_new(numel * elsize, device);
  if (t.storage_ == NULL) return -1;
  t.data_ = t.storage_->data;
  *out = t;
  return 0;
}

void oml_tensor_release(oml_tensor *t) {
  if (t == NULL) return;
  oml_storage_release(t->storage_);
  memset(t, 0, sizeof *t);
}

int oml_tensor_is_contiguous(const oml_tensor *t) {
  int64_t expected = 1;
  for (int32_t d = t->ndim_ - 1; d >= 0; d--) {
    if (t->size_[d] == 1) continue;
    if (t->stride_[d] != expected) return t->numel_ == 0;
    expected *= t->size_[d];
  }
  return 1;
}

int oml_out_prepare(oml_tensor *out, int32_t ndim, const int64_t *size, int32_t dtype, int32_t device) {
  if (out == NULL) return oml_error("no output tensor");
  if (out->storage_ == NULL) return oml_tensor_empty(out, ndim, size, dtype, device);
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  int same = out->ndim_ == ndim;
  for (int32_t d = 0; same && d < ndim; d++) same = out->size_[d] == size[d];
  if (!same)
    return oml_error("the output has shape %s but the result has shape %s", oml_shape_str(out, a),
                     oml_sizes_str(ndim, size, b));
  if (out->dtype_ != dtype)
    return oml_error("the output is %s but the result is %s", oml_dtype_name(out->dtype_), oml_dtype_name(dtype));
  if (out->device_ != device) return oml_error("the output is on another device than the inputs");
  return oml_check_writable(out, "the output");
}

int oml_check_writable(const oml_tensor *t, const char *what) {
  if (t->numel_ == 0) return 0; /* nothing is written (and contiguous strides can be 0 next to a size 0) */
  for (int32_t d = 0; d < t->ndim_; d++)
    if (t->stride_[d] == 0 && t->size_[d] > 1)
      return oml_error("%s is an expanded view whose elements share memory; write into a contiguous tensor", what);
  return 0;
}

void oml_tensor_span(const oml_tensor *t, int64_t *lo, int64_t *hi) {
  *lo = *hi = t->offset_;
  if (t->numel_ == 0) {
    *hi = *lo - 1;
    return;
  }
  for (int32_t d = 0; d < t->ndim_; d++) {
    if (t->stride_[d] < 0) *lo += t->stride_[d] * (t->size_[d] - 1);
    else *hi += t->stride_[d] * (t->size_[d] - 1);
  }
}

/* The byte range [lo, hi] that t touches; 0 for an empty tensor. */
static int byte_span(const oml_tensor *t, const char **lo, const char **hi) {
  int64_t a, b, elsize = oml_dtype_size(t->dtype_);
  oml_tensor_span(t, &a, &b);
  if (a > b) return 0;
  *lo = t->storage_->data + a * elsize;
  *hi = t->storage_->data + (b + 1) * elsize - 1;
  return 1;
}

int oml_may_overlap(const oml_tensor *a, const oml_tensor *b) {
  const char *alo, *ahi, *blo, *bhi;
  if (a->storage_ == NULL || a->storage_ != b->storage_) return 0;
  if (!byte_span(a, &alo, &ahi) || !byte_span(b, &blo, &bhi) || ahi < blo || bhi < alo) return 0;
  if (a->data_ != b->data_ || a->dtype_ != b->dtype_ || a->ndim_ != b->ndim_) return 1;
  for (int32_t d = 0; d < a->ndim_; d++)
    if (a->size_[d] != b->size_[d] || (a->size_[d] > 1 && a->stride_[d] != b->stride_[d])) return 1;
  return 0;
}

/* ---- views -------------------------------------------------------------- */

/* Points out at t's storage with the given geometry (already checked). */
static int make_view(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size,
                     const int64_t *stride, int64_t offset) {
  if (out == NULL) return oml_error("no output tensor");
  oml_tensor v = oml_tensor_unset();
  if (checked_numel(ndim, size, oml_dtype_size(t->dtype_), &v.numel_)) return -1; /* expand can make any size */
  v.ndim_ = ndim;
  v.dtype_ = t->dtype_;
  v.device_ = t->device_;
  v.offset_ = offset;
  for (int32_t d = 0; d < ndim; d++) {
    v.size_[d] = size[d];
    v.stride_[d] = stride[d];
  }
  v.storage_ = t->storage_;
  v.data_ = t->storage_->data + offset * oml_dtype_size(t->dtype_);
  oml_storage_retain(v.storage_);
  if (out->storage_) oml_storage_release(out->storage_); /* out may alias t's own view */
  *out = v;
  return 0;
}

int oml_tensor_alias(const oml_tensor *t, oml_tensor *out) {
  if (oml_check_set(t, "the tensor")) return -1;
  return make_view(t, out, t->ndim_, t->size_, t->stride_, t->offset_);
}

int oml_tensor_as_strided(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size,
                          const int64_t *stride, int64_t offset) {
  if (oml_check_set(t, "the tensor") || check_sizes(ndim, size)) return -1;
  /* the offset 1-based, as t:storage_offset() */
  if (offset < 0) return oml_error("storage offset %lld is below 1", (long long)offset + 1);
  /* The offset plus |stride| * max(size, 1) over the dims, in bytes, bounds
   * every index and byte offset computed for the view later on; it must fit
   * an int64, for empty views and the strides of size-1 dims too. */
  int64_t elsize = oml_dtype_size(t->dtype_), total = offset;
  int overflow = 0, empty = 0;
  for (int32_t d = 0; d < ndim; d++) {
    int64_t reach;
    empty |= size[d] == 0;
    overflow |= stride[d] == INT64_MIN ||
                __builtin_mul_overflow(stride[d] < 0 ? -stride[d] : stride[d], size[d] > 1 ? size[d] : 1, &reach) ||
                __builtin_add_overflow(total, reach, &total);
  }
  if (overflow || total > INT64_MAX / elsize) return oml_error("the strides and offset of the view are too large");
  /* the elements [lo, hi] that a non-empty view reaches must lie in the storage */
  int64_t capacity = t->storage_->nbytes / elsize, lo = offset, hi = offset;
  for (int32_t d = 0; d < ndim && !empty; d++) {
    if (stride[d] < 0) lo += stride[d] * (size[d] - 1);
    else hi += stride[d] * (size[d] - 1);
  }
  if (!empty && (lo < 0 || hi >= capacity))
    return oml_error("the view reaches outside its storage of %lld elements", (long long)capacity);
  return make_view(t, out, ndim, size, stride, offset);
}

/* Strides for viewing t with a new shape without copying, as PyTorch's
 * computeStride: each run of new dims must fall inside a run of old dims that
 * are contiguous with one another. Returns 0 when there is no such view. */
static int view_strides(const oml_tensor *t, int32_t ndim, const int64_t *size, int64_t *stride) {
  if (t->numel_ == 0) {
    int64_t n = 1;
    for (int32_t d = ndim - 1; d >= 0; d--) { stride[d] = n; n *= size[d] > 0 ? size[d] : 1; }
    return 1;
  }
  int32_t view_d = ndim - 1;
  int64_t chunk = t->ndim_ > 0 ? t->stride_[t->ndim_ - 1] : 1, tensor_numel = 1, view_numel = 1;
  for (int32_t d = t->ndim_ - 1; d >= 0; d--) {
    tensor_numel *= t->size_[d];
    if (d == 0 || (t->size_[d - 1] != 1 && t->stride_[d - 1] != tensor_numel * chunk)) {
      while (view_d >= 0 && (view_numel < tensor_numel || size[view_d] == 1)) {
        stride[view_d] = view_numel * chunk;
        view_numel *= size[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return 0;
      if (d > 0) {
        chunk = t->stride_[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  for (; view_d >= 0; view_d--) stride[view_d] = 1; /* trailing size-1 dims of a scalar */
  return 1;
}

/* Resolves one -1 in size against t's element count. */
static int infer_size(const oml_tensor *t, int32_t ndim, const int64_t *size, int64_t *out) {
  if (ndim < 0 || ndim > OML_MAX_DIMS)
    return oml_error("a tensor has at most %d dims (got %d)", OML_MAX_DIMS, ndim);
  int32_t infer = -1;
  for (int32_t d = 0; d < ndim; d++) {
    out[d] = size[d];
    if (size[d] == -1) {
      if (infer >= 0) return oml_error("only one size may be -1");
      infer = d;
    } else if (size[d] < 0) {
      return oml_error("size %lld of dim %d is negative", (long long)size[d], d + 1);
    }
  }
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  /* the product of the known sizes; -1 counts as 1 here */
  int64_t n = nonzero_product(ndim, size);
  if (n == 0) return oml_error("a tensor of size %s is too large", oml_sizes_str(ndim, size, a));
  for (int32_t d = 0; d < ndim; d++)
    if (size[d] == 0) n = 0;
  if (infer >= 0) {
    if (n == 0 || t->numel_ % n != 0)
      return oml_error("shape %s is invalid for a tensor of %lld elements", oml_sizes_str(ndim, size, a),
                       (long long)t->numel_);
    out[infer] = t->numel_ / n;
  } else if (n != t->numel_) {
    return oml_error("cannot view a tensor of shape %s (%lld elements) as %s", oml_shape_str(t, a),
                     (long long)t->numel_, oml_sizes_str(ndim, size, b));
  }
  return 0;
}

int oml_tensor_view(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size) {
  int64_t sz[OML_MAX_DIMS], st[OML_MAX_DIMS];
  if (oml_check_set(t, "the tensor") || infer_size(t, ndim, size, sz)) return -1;
  if (!view_strides(t, ndim, sz, st)) {
    char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
    return oml_error("cannot view a non-contiguous tensor of shape %s as %s without a copy (use reshape)",
                     oml_shape_str(t, a), oml_sizes_str(ndim, sz, b));
  }
  return make_view(t, out, ndim, sz, st, t->offset_);
}

int oml_tensor_reshape(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size) {
  int64_t sz[OML_MAX_DIMS], st[OML_MAX_DIMS];
  if (oml_check_set(t, "the tensor") || infer_size(t, ndim, size, sz)) return -1;
  if (view_strides(t, ndim, sz, st)) return make_view(t, out, ndim, sz, st, t->offset_);
  oml_tensor tmp = oml_tensor_unset();
  if (oml_tensor_clone(t, &tmp)) return -1;
  int rc = oml_tensor_view(&tmp, out, ndim, sz);
  oml_tensor_release(&tmp);
  return rc;
}

int oml_tensor_narrow(const oml_tensor *t, oml_tensor *out, int32_t dim, int64_t start, int64_t length) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (t->ndim_ == 0) return oml_error("cannot narrow a 0-d tensor");
  if (oml_check_dim(dim, t->ndim_)) return -1;
  int64_t n = t->size_[dim];
  if (length < 0) return oml_error("length %lld is negative", (long long)length);
  if (start < 0 || start > n || length > n - start)
    return oml_error("range %lld..%lld is out of bounds for dim %d of size %lld", (long long)start + 1,
                     (long long)(start > INT64_MAX - length ? INT64_MAX : start + length), dim + 1, (long long)n);
  int64_t size[OML_MAX_DIMS];
  memcpy(size, t->size_, sizeof size);
  size[dim] = length;
  return make_view(t, out, t->ndim_, size, t->stride_, t->offset_ + start * t->stride_[dim]);
}

int oml_tensor_select(const oml_tensor *t, oml_tensor *out, int32_t dim, int64_t index) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (t->ndim_ == 0) return oml_error("cannot select from a 0-d tensor");
  if (oml_check_dim(dim, t->ndim_)) return -1;
  if (index < 0 || index >= t->size_[dim])
    return oml_error("index %lld is out of range for dim %d of size %lld", (long long)index + 1, dim + 1,
                     (long long)t->size_[dim]);
  int64_t size[OML_MAX_DIMS], stride[OML_MAX_DIMS];
  int32_t n = 0;
  for (int32_t d = 0; d < t->ndim_; d++) {
    if (d == dim) continue;
    size[n] = t->size_[d];
    stride[n++] = t->stride_[d];
  }
  return make_view(t, out, n, size, stride, t->offset_ + index * t->stride_[dim]);
}

int oml_tensor_transpose(const oml_tensor *t, oml_tensor *out, int32_t dim0, int32_t dim1) {
  if (oml_check_set(t, "the tensor") || oml_check_dim(dim0, t->ndim_) || oml_check_dim(dim1, t->ndim_)) return -1;
  int64_t size[OML_MAX_DIMS], stride[OML_MAX_DIMS];
  memcpy(size, t->size_, sizeof size);
  memcpy(stride, t->stride_, sizeof stride);
  if (t->ndim_ > 0) {
    size[dim0] = t->size_[dim1]; size[dim1] = t->size_[dim0];
    stride[dim0] = t->stride_[dim1]; stride[dim1] = t->stride_[dim0];
  }
  return make_view(t, out, t->ndim_, size, stride, t->offset_);
}

int oml_tensor_permute(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int32_t *dims) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (ndim != t->ndim_)
    return oml_error("permute needs %d dims for a %d-d tensor (got %d)", t->ndim_, t->ndim_, ndim);
  int64_t size[OML_MAX_DIMS], stride[OML_MAX_DIMS];
  int seen[OML_MAX_DIMS] = {0};
  for (int32_t d = 0; d < ndim; d++) {
    if (oml_check_dim(dims[d], ndim)) return -1;
    if (seen[dims[d]]++) return oml_error("dim %d appears twice in the permutation", dims[d] + 1);
    size[d] = t->size_[dims[d]];
    stride[d] = t->stride_[dims[d]];
  }
  return make_view(t, out, ndim, size, stride, t->offset_);
}

int oml_tensor_expand(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size) {
  if (oml_check_set(t, "the tensor")) return -1;
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  if (ndim < t->ndim_ || ndim > OML_MAX_DIMS)
    return oml_error("cannot expand a tensor of shape %s to %d dims", oml_shape_str(t, a), ndim);
  int64_t sz[OML_MAX_DIMS], st[OML_MAX_DIMS];
  int32_t lead = ndim - t->ndim_;
  for (int32_t d = ndim - 1; d >= 0; d--) {
    int32_t s = d - lead; /* the source dim, if any */
    int64_t want = size[d];
    if (s >= 0) {
      int64_t have = t->size_[s];
      if (want == -1) want = have;
      if (have == want) { sz[d] = have; st[d] = t->stride_[s]; continue; }
      if (have != 1 || want < 0)
        return oml_error("cannot expand shape %s to %s", oml_shape_str(t, a), oml_sizes_str(ndim, size, b));
      sz[d] = want;
      st[d] = 0;
    } else {
      if (want < 0) return oml_error("cannot expand shape %s to %s", oml_shape_str(t, a), oml_sizes_str(ndim, size, b));
      sz[d] = want;
      st[d] = 0;
    }
  }
  return make_view(t, out, ndim, sz, st, t->offset_);
}

int oml_tensor_squeeze(const oml_tensor *t, oml_tensor *out, int32_t dim) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (dim != -1 && oml_check_dim(dim, t->ndim_)) return -1;
  int64_t size[OML_MAX_DIMS], stride[OML_MAX_DIMS];
  int32_t n = 0;
  for (int32_t d = 0; d < t->ndim_; d++) {
    if (t->size_[d] == 1 && (dim == -1 || dim == d)) continue;
    size[n] = t->size_[d];
    stride[n++] = t->stride_[d];
  }
  return make_view(t, out, n, size, stride, t->offset_);
}

int oml_tensor_unsqueeze(const oml_tensor *t, oml_tensor *out, int32_t dim) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (t->ndim_ >= OML_MAX_DIMS) return oml_error("a tensor has at most %d dims", OML_MAX_DIMS);
  if (dim < 0 || dim > t->ndim_)
    return oml_error("dim %d is out of range for unsqueezing a %d-d tensor", dim + 1, t->ndim_);
  int64_t size[OML_MAX_DIMS], stride[OML_MAX_DIMS];
  int32_t n = 0;
  for (int32_t d = 0; d <= t->ndim_; d++) {
    if (d == dim) {
      size[n] = 1;
      stride[n++] = d < t->ndim_ ? t->stride_[d] * t->size_[d] : 1;
    }
    if (d < t->ndim_) {
      size[n] = t->size_[d];
      stride[n++] = t->stride_[d];
    }
  }
  return make_view(t, out, n, size, stride, t->offset_);
}

/* ---- broadcasting ------------------------------------------------------- */

int oml_broadcast_shapes(int32_t n, const oml_tensor *const *ts, int32_t *ndim, int64_t *size) {
  int32_t nd = 0;
  for (int32_t i = 0; i < n; i++) if (ts[i]->ndim_ > nd) nd = ts[i]->ndim_;
  for (int32_t d = 0; d < nd; d++) size[d] = 1;
  for (int32_t i = 0; i < n; i++) {
    const oml_tensor *t = ts[i];
    for (int32_t d = 0; d < t->ndim_; d++) {
      int64_t s = t->size_[d], *r = &size[nd - t->ndim_ + d];
      if (s == *r || s == 1) continue;
      if (*r == 1) { *r = s; continue; }
      char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
      return oml_error("shapes %s and %s cannot be broadcast together", oml_shape_str(ts[0], a),
                       oml_shape_str(t, b));
    }
  }
  *ndim = nd;
  return 0;
}
