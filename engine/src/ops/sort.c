/* ops/sort.c — sort and topk: checks, result shapes, then the CPU kernels. */
#include "../core/internal.h"
#include "../cpu/sort.h"

/* Gives out values (a's dtype) and indices (int64) of shape size; either
 * may be NULL, not both. A fresh output is released again on failure. */
static int prepare(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, const int64_t *size) {
  if (values == NULL && indices == NULL) return oml_error("no output tensor");
  if (values != NULL && values == indices) return oml_error("values and indices must be different tensors");
  int fresh = values != NULL && values->storage_ == NULL;
  if (values != NULL && oml_out_prepare(values, a->ndim_, size, a->dtype_, a->device_)) return -1;
  if (indices != NULL && oml_out_prepare(indices, a->ndim_, size, OML_INT64, a->device_)) {
    if (fresh) oml_tensor_release(values);
    return -1;
  }
  return 0;
}

static int check_input(const oml_tensor *a, int32_t dim) {
  return oml_check_math(a, "the input") || oml_check_cpu(a, "the input") || oml_check_dim(dim, a->ndim_) ? -1 : 0;
}

int oml_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t descending) {
  if (check_input(a, dim) || prepare(a, values, indices, a->size_)) return -1;
  return oml_cpu_sort(a, values, indices, dim, descending);
}

int oml_topk(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim, int32_t largest) {
  if (check_input(a, dim)) return -1;
  /* a 0-d tensor is one line of one element, and its result has that one element */
  int64_t n = a->ndim_ > 0 ? a->size_[dim] : 1, least = a->ndim_ > 0 ? 0 : 1;
  if (k < least || k > n)
    return oml_error("k = %lld is out of range %lld..%lld for dim %d", (long long)k, (long long)least, (long long)n,
                     dim + 1);
  int64_t size[OML_MAX_DIMS];
  memcpy(size, a->size_, sizeof size);
  if (a->ndim_ > 0) size[dim] = k;
  if (prepare(a, values, indices, size)) return -1;
  return oml_cpu_topk(a, values, indices, k, dim, largest);
}
