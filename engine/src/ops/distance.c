/* ops/distance.c — normalize and cdist: checks and result shapes, then the
 * kernels of the tensors' device (cdist's products go through the GEMM of
 * cpu/linalg or cuda/linalg, in exact float32 on a device whatever the math
 * mode, as the CPU computes them). */
#include "../core/blas_layout.h"
#include "../core/internal.h"
#include "../cpu/distance.h"
#include "../cpu/linalg.h"
#ifdef OML_WITH_CUDA
#include "../cuda/distance.h"
#include "../cuda/linalg.h"
#endif

#include <limits.h>
#include <stdio.h>

static int normalize_into(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_normalize(a, out, p, dim, eps);
#endif
  oml_cpu_normalize(a, out, p, dim, eps);
  return 0;
}

int oml_normalize(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps) {
  if (oml_check_real(a, "the input") || oml_check_dim(dim, a->ndim_)) return -1;
  if (p != p) return oml_error("p must not be NaN");
  if (!(eps >= 0)) return oml_error("eps must be >= 0 (got %g)", eps);
  if (out == NULL) return oml_error("no output tensor");
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, a->ndim_, a->size_, a->dtype_, a->device_)) return -1;
  /* each line's norm is taken before the line is written, so out may be a itself */
  if (!oml_may_overlap(a, out)) {
    int rc = normalize_into(a, out, p, dim, eps);
    if (rc && fresh) oml_tensor_release(out);
    return rc;
  }
  oml_tensor tmp = oml_tensor_unset();
  int rc = oml_tensor_empty(&tmp, a->ndim_, a->size_, a->dtype_, a->device_);
  if (rc == 0) rc = normalize_into(a, &tmp, p, dim, eps);
  if (rc == 0) rc = oml_copy(&tmp, out);
  oml_tensor_release(&tmp);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

/* torch.cdist takes the differences directly up to this many rows on both
 * sides and the GEMM form ||x||^2 + ||y||^2 - 2 x.y beyond. */
#define CDIST_DIRECT_MAX_ROWS 25

/* The products x @ y^T (scaled by alpha) into work, then the distances, on work's device. */
static int cdist_products(const oml_tensor *x, const oml_tensor *y, const oml_tensor *xr, const oml_tensor *yt,
                          oml_tensor *xx, oml_tensor *yy, oml_tensor *work, int32_t metric) {
  double alpha = metric == OML_EUCLIDEAN ? -2 : 1;
#ifdef OML_WITH_CUDA
  if (work->device_ != OML_CPU) {
    if (oml_cuda_row_sqnorms(x, (double *)xx->data_) || oml_cuda_row_sqnorms(y, (double *)yy->data_) ||
        oml_cuda_gemm_math(xr, yt, work, alpha, 0, OML_MATH_FLOAT32))
      return -1;
    return oml_cuda_cdist_finish(xx, yy, work, metric);
  }
#endif
  oml_cpu_row_sqnorms(x, xx);
  oml_cpu_row_sqnorms(y, yy);
  oml_cpu_gemm(xr, yt, work, alpha, 0);
  oml_cpu_cdist_finish(xx, yy, work, metric);
  return 0;
}

static int cdist_gemm(const oml_tensor *x, const oml_tensor *y, oml_tensor *work, int32_t metric) {
  oml_tensor xr = oml_tensor_unset(), yr = oml_tensor_unset(), yt = oml_tensor_unset();
  oml_tensor xx = oml_tensor_unset(), yy = oml_tensor_unset();
  int rc = oml_blas_operand(x, &xr);
  if (rc == 0) rc = oml_blas_operand(y, &yr);
  if (rc == 0) rc = oml_tensor_transpose(&yr, &yt, 0, 1);
  if (rc == 0) rc = oml_tensor_empty(&xx, 1, x->size_, OML_FLOAT64, x->device_);
  if (rc == 0) rc = oml_tensor_empty(&yy, 1, y->size_, OML_FLOAT64, x->device_);
  if (rc == 0) rc = cdist_products(x, y, &xr, &yt, &xx, &yy, work, metric);
  oml_tensor_release(&xr);
  oml_tensor_release(&yr);
  oml_tensor_release(&yt);
  oml_tensor_release(&xx);
  oml_tensor_release(&yy);
  return rc;
}

static int cdist_direct(const oml_tensor *x, const oml_tensor *y, oml_tensor *out) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_cdist_direct(x, y, out);
#endif
  oml_cpu_cdist_direct(x, y, out);
  return 0;
}

int oml_cdist(const oml_tensor *x, const oml_tensor *y, oml_tensor *out, int32_t metric) {
  if (oml_check_real(x, "x") || oml_check_real(y, "y")) return -1;
  char sx[OML_SHAPE_BUF], sy[OML_SHAPE_BUF];
  if (oml_check_device(y, "y", x, "x")) return -1;
  if (x->dtype_ != y->dtype_)
    return oml_error("x is %s but y is %s", oml_dtype_name(x->dtype_), oml_dtype_name(y->dtype_));
  if (metric != OML_EUCLIDEAN && metric != OML_COSINE) return oml_error("unknown metric %d", metric);
  if (x->ndim_ != 2 || y->ndim_ != 2)
    return oml_error("expects 2-d tensors [n,d] and [m,d] (got shapes %s and %s)", oml_shape_str(x, sx),
                     oml_shape_str(y, sy));
  if (x->size_[1] != y->size_[1])
    return oml_error("x of shape %s and y of shape %s differ in the number of columns", oml_shape_str(x, sx),
                     oml_shape_str(y, sy));
  int64_t n = x->size_[0], m = y->size_[0], d = x->size_[1];
  if (n > INT_MAX || m > INT_MAX || d > INT_MAX)
    return oml_error("x of shape %s and y of shape %s exceed BLAS's limit of %d per dim", oml_shape_str(x, sx),
                     oml_shape_str(y, sy), INT_MAX);
  if (out == NULL) return oml_error("no output tensor");
  int64_t size[2] = {n, m};
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, 2, size, x->dtype_, x->device_)) return -1;
  if (n == 0 || m == 0) return 0;
  int direct = metric == OML_EUCLIDEAN && n <= CDIST_DIRECT_MAX_ROWS && m <= CDIST_DIRECT_MAX_ROWS;
  /* x and y are read after out is written, so even the very same view would clash */
  int in_place = out->storage_ != x->storage_ && out->storage_ != y->storage_ &&
                 (direct || oml_blas_writable(out));
  oml_tensor work = oml_tensor_unset();
  int rc = in_place ? oml_tensor_alias(out, &work) : oml_tensor_empty(&work, 2, size, x->dtype_, x->device_);
  if (rc == 0 && direct) rc = cdist_direct(x, y, &work);
  else if (rc == 0) rc = cdist_gemm(x, y, &work, metric);
  if (rc == 0 && !in_place) rc = oml_copy(&work, out);
  oml_tensor_release(&work);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}
