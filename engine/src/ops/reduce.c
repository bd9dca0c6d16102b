/* ops/reduce.c — reductions (sum, mean, prod, amax, amin, all, any,
 * logsumexp, var, norm), max/min along a dim with indices, and cumulative
 * sums and products: checks, result shapes and dtypes, then the CPU kernels.
 *
 * Result dtypes follow PyTorch: sums and products of integers and bools are
 * int64; amax and amin keep the dtype; all and any give bool. The
 * float-valued reductions (mean, logsumexp, var, norm) of integers and bools
 * give float32 (PyTorch refuses them): they are computed on a float64 copy.
 * Each kernel runs on the input's device. */
#include "../core/internal.h"
#include "../cpu/reduce.h"
#ifdef OML_WITH_CUDA
#include "../cuda/reduce.h"
#endif

#include <math.h>

static int check_input(const oml_tensor *a) {
  return oml_check_math(a, "the input");
}

/* ---- the kernels, on the input's device ----------------------------------- */

static int reduce_kernel(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t mask) {
#ifdef OML_WITH_CUDA
  if (a->device_ != OML_CPU) return oml_cuda_reduce(a, out, op, mask);
#endif
  return oml_cpu_reduce(a, out, op, mask);
}

static int var_kernel(const oml_tensor *a, oml_tensor *out, uint32_t mask, int32_t correction, int32_t take_sqrt) {
#ifdef OML_WITH_CUDA
  if (a->device_ != OML_CPU) return oml_cuda_var(a, out, mask, correction, take_sqrt);
#endif
  return oml_cpu_var(a, out, mask, correction, take_sqrt);
}

static int norm_kernel(const oml_tensor *a, oml_tensor *out, uint32_t mask, double p) {
#ifdef OML_WITH_CUDA
  if (a->device_ != OML_CPU) return oml_cuda_norm(a, out, mask, p);
#endif
  return oml_cpu_norm(a, out, mask, p);
}

static int max_dim_kernel(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t is_min) {
#ifdef OML_WITH_CUDA
  if (a->device_ != OML_CPU) return oml_cuda_max_dim(a, values, indices, dim, is_min);
#endif
  return oml_cpu_max_dim(a, values, indices, dim, is_min);
}

static int cumulate_kernel(const oml_tensor *a, oml_tensor *out, int32_t dim, int32_t is_prod) {
#ifdef OML_WITH_CUDA
  if (a->device_ != OML_CPU) return oml_cuda_cumulate(a, out, dim, is_prod);
#endif
  oml_cpu_cumulate(a, out, dim, is_prod);
  return 0;
}

/* The shape of the result of reducing a over the dims in *mask (0: every
 * dim; set on return). A 0-d tensor has one dim, dim 1, to reduce. */
static int reduced_shape(const oml_tensor *a, uint32_t *mask, int32_t keepdim, int32_t *ndim, int64_t *size) {
  int32_t nd = a->ndim_ > 0 ? a->ndim_ : 1;
  if (*mask >> nd) {
    int32_t d = nd;
    while (!(*mask >> d & 1)) d++;
    return oml_error("dim %d is out of range for a %d-d tensor", d + 1, a->ndim_);
  }
  if (*mask == 0) *mask = (1u << nd) - 1;
  *ndim = 0;
  for (int32_t d = 0; d < a->ndim_; d++) {
    if (*mask >> d & 1) {
      if (keepdim) size[(*ndim)++] = 1;
    } else {
      size[(*ndim)++] = a->size_[d];
    }
  }
  return 0;
}

/* The reductions without an identity (max, min, the +-inf norms) refuse
 * empty ranges, as PyTorch does. whole: the caller asked for every dim. */
static int check_not_empty(const oml_tensor *a, uint32_t mask, int whole, const char *what) {
  if (a->numel_ > 0) return 0;
  if (whole) return oml_error("cannot take the %s of an empty tensor (specify a dim)", what);
  for (int32_t d = 0; d < a->ndim_; d++)
    if ((mask >> d & 1) && a->size_[d] == 0)
      return oml_error("cannot take the %s over dim %d of size 0", what, d + 1);
  return 0;
}

/* Floating inputs as they are; integers and bools as a float64 copy. */
static int as_floating(const oml_tensor *a, oml_tensor *tmp) {
  if (oml_is_floating(a->dtype_)) return oml_tensor_alias(a, tmp);
  return oml_tensor_to(a, tmp, OML_FLOAT64, a->device_);
}

static int32_t floating_result(int32_t dtype) { return oml_is_floating(dtype) ? dtype : OML_FLOAT32; }

/* ---- outputs ------------------------------------------------------------ */

/* Gives out the result's shape and dtype (allocating it when unset), and
 * points dst at what the kernel writes: out itself when it is contiguous and
 * shares no storage with the input a, else a contiguous temporary that
 * close_out copies into out. */
static int open_out(oml_tensor *out, const oml_tensor *a, int32_t ndim, const int64_t *size, int32_t dtype,
                    oml_tensor *dst, int *fresh) {
  if (out == NULL) return oml_error("no output tensor");
  *fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, ndim, size, dtype, a->device_)) return -1;
  int rc = oml_tensor_is_contiguous(out) && out->storage_ != a->storage_
               ? oml_tensor_alias(out, dst)
               : oml_tensor_empty(dst, ndim, size, dtype, a->device_);
  if (rc && *fresh) oml_tensor_release(out);
  return rc;
}

static int close_out(oml_tensor *out, oml_tensor *dst, int fresh, int rc) {
  if (rc == 0 && dst->storage_ != out->storage_) rc = oml_copy(dst, out);
  oml_tensor_release(dst);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

/* ---- reductions --------------------------------------------------------- */

static int32_t reduce_dtype(int32_t op, int32_t dtype) {
  switch (op) {
  case OML_SUM: case OML_PROD: return oml_is_floating(dtype) ? dtype : OML_INT64;
  case OML_MEAN: case OML_LOGSUMEXP: return floating_result(dtype);
  case OML_AMAX: case OML_AMIN: return dtype;
  default: return OML_BOOL; /* all, any */
  }
}

int oml_reduce(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t dim_mask, int32_t keepdim) {
  if (check_input(a)) return -1;
  if (op < 0 || op >= OML_NUM_REDUCE) return oml_error("unknown reduction %d", op);
  uint32_t mask = dim_mask;
  int32_t ndim;
  int64_t size[OML_MAX_DIMS];
  if (reduced_shape(a, &mask, keepdim, &ndim, size)) return -1;
  if ((op == OML_AMAX || op == OML_AMIN) && check_not_empty(a, mask, dim_mask == 0, op == OML_AMAX ? "max" : "min"))
    return -1;
  oml_tensor in = oml_tensor_unset(), dst = oml_tensor_unset();
  int fresh;
  int rc = op == OML_MEAN || op == OML_LOGSUMEXP ? as_floating(a, &in) : oml_tensor_alias(a, &in);
  if (rc == 0) rc = open_out(out, a, ndim, size, reduce_dtype(op, a->dtype_), &dst, &fresh);
  if (rc == 0) rc = close_out(out, &dst, fresh, reduce_kernel(&in, &dst, op, mask));
  oml_tensor_release(&in);
  return rc;
}

int oml_var(const oml_tensor *a, oml_tensor *out, uint32_t dim_mask, int32_t correction, int32_t keepdim,
            int32_t take_sqrt) {
  if (check_input(a)) return -1;
  uint32_t mask = dim_mask;
  int32_t ndim;
  int64_t size[OML_MAX_DIMS];
  if (reduced_shape(a, &mask, keepdim, &ndim, size)) return -1;
  oml_tensor in = oml_tensor_unset(), dst = oml_tensor_unset();
  int fresh;
  int rc = as_floating(a, &in);
  if (rc == 0) rc = open_out(out, a, ndim, size, floating_result(a->dtype_), &dst, &fresh);
  if (rc == 0) rc = close_out(out, &dst, fresh, var_kernel(&in, &dst, mask, correction, take_sqrt));
  oml_tensor_release(&in);
  return rc;
}

int oml_norm(const oml_tensor *a, oml_tensor *out, double p, uint32_t dim_mask, int32_t keepdim) {
  if (check_input(a)) return -1;
  if (p != p) return oml_error("the order p must be a number (got NaN)");
  uint32_t mask = dim_mask;
  int32_t ndim;
  int64_t size[OML_MAX_DIMS];
  if (reduced_shape(a, &mask, keepdim, &ndim, size)) return -1;
  if (isinf(p) && check_not_empty(a, mask, dim_mask == 0, p > 0 ? "inf norm" : "-inf norm")) return -1;
  oml_tensor in = oml_tensor_unset(), dst = oml_tensor_unset();
  int fresh;
  int rc = as_floating(a, &in);
  if (rc == 0) rc = open_out(out, a, ndim, size, floating_result(a->dtype_), &dst, &fresh);
  if (rc == 0) rc = close_out(out, &dst, fresh, norm_kernel(&in, &dst, mask, p));
  oml_tensor_release(&in);
  return rc;
}

int oml_max_dim(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t keepdim,
                int32_t is_min) {
  if (check_input(a)) return -1;
  if (values == NULL && indices == NULL) return oml_error("no output tensor");
  if (oml_check_apart_outputs(values, indices)) return -1;
  if (oml_check_dim(dim, a->ndim_)) return -1;
  if (a->ndim_ > 0 && a->size_[dim] == 0)
    return oml_error("cannot take the %s over dim %d of size 0", is_min ? "min" : "max", dim + 1);
  uint32_t mask = 1u << dim;
  int32_t ndim;
  int64_t size[OML_MAX_DIMS];
  if (reduced_shape(a, &mask, keepdim, &ndim, size)) return -1;
  oml_tensor vdst = oml_tensor_unset(), idst = oml_tensor_unset();
  int vfresh = 0, ifresh = 0, rc = 0;
  if (values) rc = open_out(values, a, ndim, size, a->dtype_, &vdst, &vfresh);
  if (rc == 0 && indices) {
    rc = open_out(indices, a, ndim, size, OML_INT64, &idst, &ifresh);
    if (rc && values) close_out(values, &vdst, vfresh, rc);
  }
  if (rc) return rc;
  rc = max_dim_kernel(a, values ? &vdst : NULL, indices ? &idst : NULL, dim, is_min);
  if (values) rc = close_out(values, &vdst, vfresh, rc);
  if (indices) rc = close_out(indices, &idst, ifresh, rc);
  return rc;
}

/* ---- cumulative sums and products --------------------------------------- */

static int cumulate(const oml_tensor *a, oml_tensor *out, int32_t dim, int32_t is_prod) {
  if (check_input(a)) return -1;
  if (oml_check_dim(dim, a->ndim_)) return -1;
  int32_t dtype = oml_is_floating(a->dtype_) ? a->dtype_ : OML_INT64;
  oml_tensor in = oml_tensor_unset(), dst = oml_tensor_unset();
  int fresh;
  int rc = a->dtype_ == dtype ? oml_tensor_contiguous(a, &in) : oml_tensor_to(a, &in, dtype, a->device_);
  if (rc == 0) rc = open_out(out, a, a->ndim_, a->size_, dtype, &dst, &fresh);
  if (rc == 0) rc = close_out(out, &dst, fresh, cumulate_kernel(&in, &dst, dim, is_prod));
  oml_tensor_release(&in);
  return rc;
}

int oml_cumsum(const oml_tensor *a, oml_tensor *out, int32_t dim) { return cumulate(a, out, dim, 0); }
int oml_cumprod(const oml_tensor *a, oml_tensor *out, int32_t dim) { return cumulate(a, out, dim, 1); }
