/* ops/join.c — cat: checks, the promoted dtype and the result's shape; each
 * input is then copied into its slice of the result (oml_copy, so device
 * tensors are joined by the device's copy kernel). */
#include "../core/internal.h"

#include <stdio.h>

/* PyTorch's legacy rule: 1-d tensors of size [0] are left out of a cat. */
static int skipped(const oml_tensor *t) { return t->ndim_ == 1 && t->size_[0] == 0; }

/* Checks every input (all on the first one's device); gives the promoted
 * dtype and the first input not skipped (NULL if none). */
static int check_inputs(const oml_tensor **inputs, int32_t n, int32_t *dtype, const oml_tensor **ref) {
  char what[32];
  *ref = NULL;
  for (int32_t i = 0; i < n; i++) {
    const oml_tensor *t = inputs[i];
    snprintf(what, sizeof what, "tensor %d", i + 1);
    if (oml_check_device(t, what, inputs[0], "tensor 1")) return -1;
    if (t->ndim_ == 0) return oml_error("tensor %d is 0-d; only tensors with dims can be concatenated", i + 1);
    *dtype = i == 0 ? t->dtype_ : oml_promote(*dtype, t->dtype_);
    if (*ref == NULL && !skipped(t)) *ref = t;
  }
  return 0;
}

/* The result's size along dim, after checking that the other dims agree with ref's. */
static int joined_size(const oml_tensor **inputs, int32_t n, const oml_tensor *ref, int32_t dim, int64_t *total) {
  char sa[OML_SHAPE_BUF], sb[OML_SHAPE_BUF];
  int32_t r = 0;
  while (inputs[r] != ref) r++;
  *total = 0;
  for (int32_t i = 0; i < n; i++) {
    const oml_tensor *t = inputs[i];
    if (skipped(t)) continue;
    int same = t->ndim_ == ref->ndim_;
    for (int32_t d = 0; same && d < t->ndim_; d++) same = d == dim || t->size_[d] == ref->size_[d];
    if (!same)
      return oml_error("tensor %d has shape %s but tensor %d has shape %s; they must match except in dim %d", i + 1,
                       oml_shape_str(t, sa), r + 1, oml_shape_str(ref, sb), dim + 1);
    if (__builtin_add_overflow(*total, t->size_[dim], total)) /* expanded views can be that large */
      return oml_error("the result would have more than %lld elements along dim %d", (long long)INT64_MAX, dim + 1);
  }
  return 0;
}

/* Copies each input into its slice of work along dim. */
static int fill_slices(const oml_tensor **inputs, int32_t n, oml_tensor *work, int32_t dim) {
  int64_t offset = 0;
  int rc = 0;
  for (int32_t i = 0; i < n && rc == 0; i++) {
    if (skipped(inputs[i])) continue;
    oml_tensor slice = oml_tensor_unset();
    int64_t len = inputs[i]->size_[dim];
    rc = oml_tensor_narrow(work, &slice, dim, offset, len);
    if (rc == 0) rc = oml_copy(inputs[i], &slice);
    oml_tensor_release(&slice);
    offset += len;
  }
  return rc;
}

int oml_cat(const oml_tensor **inputs, int32_t n, oml_tensor *out, int32_t dim) {
  if (inputs == NULL || n < 1) return oml_error("expects at least one tensor");
  if (out == NULL) return oml_error("no output tensor");
  int32_t dtype = 0;
  const oml_tensor *ref;
  if (check_inputs(inputs, n, &dtype, &ref)) return -1;
  int32_t device = inputs[0]->device_;
  if (ref == NULL) { /* every input is [0] */
    int64_t zero = 0;
    return oml_out_prepare(out, 1, &zero, dtype, device);
  }
  if (oml_check_dim(dim, ref->ndim_)) return -1;
  int64_t size[OML_MAX_DIMS];
  memcpy(size, ref->size_, sizeof size);
  if (joined_size(inputs, n, ref, dim, &size[dim])) return -1;
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, ref->ndim_, size, dtype, device)) return -1;
  /* an out that shares memory with an input is written through a temporary */
  int shared = 0;
  for (int32_t i = 0; i < n; i++) shared |= inputs[i]->storage_ == out->storage_;
  oml_tensor work = oml_tensor_unset();
  int rc = shared ? oml_tensor_empty(&work, ref->ndim_, size, dtype, device) : oml_tensor_alias(out, &work);
  if (rc == 0) rc = fill_slices(inputs, n, &work, dim);
  if (rc == 0 && shared) rc = oml_copy(&work, out);
  oml_tensor_release(&work);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}
