/* ops/copy.c — copies (across dtypes and devices), fills and creation. */
#include "../core/internal.h"
#include "../cpu/copy.h"
#ifdef OML_WITH_CUDA
#include "../cuda/copy.h"
#endif

#include <math.h>

/* host becomes a CPU view, with t's geometry, of a CPU copy of the part of
 * t's device storage that t touches. */
static int stage(const oml_tensor *t, oml_tensor *buffer, oml_tensor *host) {
  int64_t lo, hi, elsize = oml_dtype_size(t->dtype_);
  oml_tensor_span(t, &lo, &hi);
  int64_t n = hi - lo + 1;
  if (oml_tensor_empty(buffer, 1, &n, t->dtype_, OML_CPU)) return -1;
  if (n > 0 && oml_device_memcpy(buffer->data_, OML_CPU, t->storage_->data + lo * elsize, t->device_, n * elsize))
    return -1;
  return oml_tensor_as_strided(buffer, host, t->ndim_, t->size_, t->stride_, t->offset_ - lo);
}

/* One transfer when both sides are dense and of one dtype. */
static int copy_dense(const oml_tensor *src, oml_tensor *dst) {
  return oml_device_memcpy(dst->data_, dst->device_, src->data_, src->device_,
                           dst->numel_ * oml_dtype_size(dst->dtype_));
}

static int copy_across_devices(const oml_tensor *src, oml_tensor *dst) {
  if (src->dtype_ == dst->dtype_ && oml_tensor_is_contiguous(src) && oml_tensor_is_contiguous(dst))
    return copy_dense(src, dst);
  oml_tensor sbuf = oml_tensor_unset(), shost = oml_tensor_unset();
  oml_tensor dbuf = oml_tensor_unset(), dhost = oml_tensor_unset();
  int rc = -1;
  const oml_tensor *hsrc = src;
#ifdef OML_WITH_CUDA
  if (src->device_ == OML_CPU) { /* upload src as it is; the device converts and scatters */
    oml_tensor dense = oml_tensor_unset();
    rc = oml_tensor_contiguous(src, &dense);
    if (rc == 0) rc = oml_tensor_empty(&dbuf, dense.ndim_, dense.size_, dense.dtype_, dst->device_);
    if (rc == 0) rc = copy_dense(&dense, &dbuf);
    if (rc == 0) rc = oml_cuda_copy(&dbuf, dst);
    oml_tensor_release(&dense);
    goto done;
  }
#endif
  if (src->device_ != OML_CPU) {
    if (stage(src, &sbuf, &shost)) goto done;
    hsrc = &shost;
  }
  if (dst->device_ == OML_CPU) {
    oml_cpu_copy(hsrc, dst);
    rc = 0;
    goto done;
  }
  /* to a device: fill a host image of dst's span, then send it over */
  if (stage(dst, &dbuf, &dhost)) goto done;
  oml_cpu_copy(hsrc, &dhost);
  int64_t lo, hi, elsize = oml_dtype_size(dst->dtype_);
  oml_tensor_span(dst, &lo, &hi);
  int64_t n = hi - lo + 1;
  rc = n > 0 ? oml_device_memcpy(dst->storage_->data + lo * elsize, dst->device_, dbuf.data_, OML_CPU, n * elsize) : 0;
done:
  oml_tensor_release(&sbuf);
  oml_tensor_release(&shost);
  oml_tensor_release(&dbuf);
  oml_tensor_release(&dhost);
  return rc;
}

int oml_copy(const oml_tensor *src, oml_tensor *dst) {
  if (oml_check_set(src, "the source") || oml_check_set(dst, "the destination") ||
      oml_check_writable(dst, "the destination"))
    return -1;
  oml_tensor e = oml_tensor_unset();
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  if (oml_tensor_expand(src, &e, dst->ndim_, dst->size_))
    return oml_error("cannot copy a tensor of shape %s into one of shape %s", oml_shape_str(src, a),
                     oml_shape_str(dst, b));
  int rc = 0;
  if (oml_may_overlap(&e, dst)) { /* read the source before any of it is overwritten */
    oml_tensor c = oml_tensor_unset();
    rc = oml_tensor_clone(&e, &c);
    oml_tensor_release(&e);
    if (rc) return rc;
    e = c;
  }
  if (src->device_ == OML_CPU && dst->device_ == OML_CPU) oml_cpu_copy(&e, dst);
#ifdef OML_WITH_CUDA
  else if (src->device_ == dst->device_) rc = oml_cuda_copy(&e, dst);
#endif
  else rc = copy_across_devices(&e, dst);
  oml_tensor_release(&e);
  return rc;
}

int oml_fill(oml_tensor *t, double value) {
  if (oml_check_set(t, "the tensor") || oml_check_writable(t, "the tensor")) return -1;
#ifdef OML_WITH_CUDA
  if (t->device_ != OML_CPU) return oml_cuda_fill(t, value);
#endif
  oml_cpu_fill(t, value);
  return 0;
}

int oml_tensor_clone(const oml_tensor *t, oml_tensor *out) {
  if (oml_check_set(t, "the tensor")) return -1;
  return oml_tensor_to(t, out, t->dtype_, t->device_);
}

int oml_tensor_contiguous(const oml_tensor *t, oml_tensor *out) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (oml_tensor_is_contiguous(t)) return oml_tensor_alias(t, out);
  return oml_tensor_clone(t, out);
}

int oml_tensor_to(const oml_tensor *t, oml_tensor *out, int32_t dtype, int32_t device) {
  if (oml_check_set(t, "the tensor")) return -1;
  if (oml_dtype_size(dtype) == 0) return oml_error("unknown dtype %d", dtype);
  if (out == NULL || out->storage_ != NULL) return oml_error("the output tensor must be unset");
  if (oml_tensor_empty(out, t->ndim_, t->size_, dtype, device)) return -1;
  if (oml_copy(t, out)) {
    oml_tensor_release(out);
    return -1;
  }
  return 0;
}

/* ---- creation ----------------------------------------------------------- */

static int new_cpu_1d(oml_tensor *out, int64_t n, int32_t dtype) {
  if (oml_dtype_size(dtype) == 0) return oml_error("unknown dtype %d", dtype);
  return oml_out_prepare(out, 1, &n, dtype, OML_CPU);
}

int oml_arange(oml_tensor *out, double start, double end, double step, int32_t dtype) {
  if (!isfinite(start) || !isfinite(end) || !isfinite(step)) return oml_error("start, end and step must be finite");
  if (step == 0) return oml_error("step must not be 0");
  if ((end - start) / step < 0)
    return oml_error("step %g goes the wrong way from %g to %g", step, start, end);
  double count = ceil((end - start) / step);
  if (count > 1e15) return oml_error("%g elements are too many", count);
  int64_t n = (int64_t)count;
  if (new_cpu_1d(out, n, dtype)) return -1;
  int64_t elsize = oml_dtype_size(dtype);
  for (int64_t i = 0; i < n; i++) oml_store(out->data_ + i * out->stride_[0] * elsize, dtype, start + (double)i * step);
  return 0;
}

int oml_linspace(oml_tensor *out, double start, double end, int64_t steps, int32_t dtype) {
  if (steps < 0) return oml_error("steps must be >= 0 (got %lld)", (long long)steps);
  if (new_cpu_1d(out, steps, dtype)) return -1;
  int64_t elsize = oml_dtype_size(dtype);
  double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
  for (int64_t i = 0; i < steps; i++) {
    /* from both ends, as PyTorch, so that the last value is exactly end */
    double v = steps == 1 ? start : i < steps / 2 ? start + step * (double)i : end - step * (double)(steps - 1 - i);
    oml_store(out->data_ + i * out->stride_[0] * elsize, dtype, v);
  }
  return 0;
}

int oml_eye(oml_tensor *out, int64_t n, int64_t m, int32_t dtype) {
  if (n < 0 || m < 0) return oml_error("sizes must be >= 0 (got %lld x %lld)", (long long)n, (long long)m);
  if (oml_dtype_size(dtype) == 0) return oml_error("unknown dtype %d", dtype);
  int64_t size[2] = {n, m};
  if (oml_out_prepare(out, 2, size, dtype, OML_CPU)) return -1;
  oml_cpu_fill(out, 0);
  int64_t elsize = oml_dtype_size(dtype);
  for (int64_t i = 0; i < n && i < m; i++)
    oml_store(out->data_ + (i * out->stride_[0] + i * out->stride_[1]) * elsize, dtype, 1);
  return 0;
}
