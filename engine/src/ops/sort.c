/* ops/sort.c — sort and topk: checks, result shapes, then the kernels of
 * the input's device. */
#include "../core/internal.h"
#include "../cpu/sort.h"
#ifdef OML_WITH_CUDA
#include "../cuda/sort.h"
#endif

static int check_input(const oml_tensor *a, int32_t dim) {
  return oml_check_math(a, "the input") || oml_check_dim(dim, a->ndim_) ? -1 : 0;
}

static int sort_kernel(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                       int32_t flag, int is_sort) {
#ifdef OML_WITH_CUDA
  if (a->device_ != OML_CPU)
    return is_sort ? oml_cuda_sort(a, values, indices, dim, flag) : oml_cuda_topk(a, values, indices, k, dim, flag);
#endif
  return is_sort ? oml_cpu_sort(a, values, indices, dim, flag) : oml_cpu_topk(a, values, indices, k, dim, flag);
}

static void release_fresh(oml_tensor *t, int fresh) {
  if (fresh) oml_tensor_release(t);
}

/* Gives out values (a's dtype) and indices (int64) of shape size, either of
 * which may be NULL, and runs the kernel: on a itself, or on a copy when a
 * shares memory with an output (a line is read while others are written).
 * A fresh output is released again on failure. */
static int run(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, const int64_t *size, int64_t k,
               int32_t dim, int32_t flag, int is_sort) {
  if (values == NULL && indices == NULL) return oml_error("no output tensor");
  if (oml_check_apart_outputs(values, indices)) return -1;
  int vfresh = values != NULL && values->storage_ == NULL, ifresh = indices != NULL && indices->storage_ == NULL;
  if (values != NULL && oml_out_prepare(values, a->ndim_, size, a->dtype_, a->device_)) return -1;
  if (indices != NULL && oml_out_prepare(indices, a->ndim_, size, OML_INT64, a->device_)) {
    release_fresh(values, vfresh);
    return -1;
  }
  oml_tensor copy = oml_tensor_unset();
  const oml_tensor *in = a;
  int rc = 0;
  if ((values != NULL && oml_may_overlap(a, values)) || (indices != NULL && oml_may_overlap(a, indices))) {
    rc = oml_tensor_clone(a, &copy);
    in = &copy;
  }
  if (rc == 0) rc = sort_kernel(in, values, indices, k, dim, flag, is_sort);
  oml_tensor_release(&copy);
  if (rc) {
    release_fresh(values, vfresh);
    release_fresh(indices, ifresh);
  }
  return rc;
}

int oml_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t descending) {
  if (check_input(a, dim)) return -1;
  return run(a, values, indices, a->size_, 0, dim, descending, 1);
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
  return run(a, values, indices, size, k, dim, largest, 0);
}
