/* ops/pool.c — 2-d max, average and adaptive average pooling: checks and
 * output sizes (PyTorch's formulas, ceil_mode included), then the kernels of
 * cpu/pool or cuda/pool on contiguous data. */
#include "../core/internal.h"
#include "../cpu/pool.h"
#ifdef OML_WITH_CUDA
#include "../cuda/pool.h"
#endif

#include <stdio.h>

/* [N,C,H,W] or [C,H,W]: the planes and the plane's sizes; every dim but N must be non-empty */
static int pool_input(const oml_tensor *t, const char *what, oml_pool2d *p) {
  if (oml_check_real(t, what)) return -1;
  char s[OML_SHAPE_BUF];
  if (t->ndim_ != 3 && t->ndim_ != 4)
    return oml_error("%s must be [N,C,H,W] or [C,H,W] (got shape %s)", what, oml_shape_str(t, s));
  for (int32_t d = t->ndim_ - 3; d < t->ndim_; d++)
    if (t->size_[d] == 0) return oml_error("%s has an empty dim %d (shape %s)", what, d + 1, oml_shape_str(t, s));
  p->in_h = t->size_[t->ndim_ - 2];
  p->in_w = t->size_[t->ndim_ - 1];
  p->planes = t->numel_ / (p->in_h * p->in_w);
  return 0;
}

/* PyTorch's pooling_output_shape: floor division, and with ceil_mode the
 * last window must start inside the input or its left/top padding */
static int64_t out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, int32_t ceil_mode) {
  int64_t num = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t q = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
  int64_t out = q + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) out--;
  return out;
}

/* The window's checks and the output sizes, into p */
static int pool_window(const oml_tensor *input, oml_pool2d *p, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                       int32_t ph, int32_t pw, int32_t dh, int32_t dw, int32_t ceil_mode) {
  if (kh <= 0 || kw <= 0) return oml_error("kernel size must be positive (got %dx%d)", kh, kw);
  if (sh <= 0 || sw <= 0) return oml_error("stride must be positive (got %dx%d)", sh, sw);
  if (dh <= 0 || dw <= 0) return oml_error("dilation must be positive (got %dx%d)", dh, dw);
  if (ph < 0 || pw < 0) return oml_error("padding must be >= 0 (got %dx%d)", ph, pw);
  if (ph > kh / 2 || pw > kw / 2)
    return oml_error("padding %dx%d must be at most half the kernel size %dx%d", ph, pw, kh, kw);
  p->kh = kh, p->kw = kw, p->sh = sh, p->sw = sw, p->ph = ph, p->pw = pw, p->dh = dh, p->dw = dw;
  p->out_h = out_size(p->in_h, kh, ph, sh, dh, ceil_mode);
  p->out_w = out_size(p->in_w, kw, pw, sw, dw, ceil_mode);
  char s[OML_SHAPE_BUF];
  if (p->out_h < 1 || p->out_w < 1)
    return oml_error("the input of shape %s is too small for the window: the output would be %lldx%lld",
                     oml_shape_str(input, s), (long long)p->out_h, (long long)p->out_w);
  return 0;
}

/* the input's shape with its last two sizes replaced by h, w */
static void pooled_shape(const oml_tensor *t, int64_t h, int64_t w, int64_t *size) {
  for (int32_t d = 0; d < t->ndim_; d++) size[d] = t->size_[d];
  size[t->ndim_ - 2] = h;
  size[t->ndim_ - 1] = w;
}

/* grad_out (or indices) must have the output's shape */
static int check_shape(const oml_tensor *t, const char *what, int32_t ndim, const int64_t *size) {
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  int same = t->ndim_ == ndim;
  for (int32_t d = 0; same && d < ndim; d++) same = t->size_[d] == size[d];
  if (!same)
    return oml_error("%s has shape %s but the output has shape %s", what, oml_shape_str(t, a),
                     oml_sizes_str(ndim, size, b));
  return 0;
}

static int check_grad_out(const oml_tensor *input, const oml_tensor *grad_out, int32_t ndim, const int64_t *size) {
  if (oml_check_real(grad_out, "grad_out") || oml_check_device(grad_out, "grad_out", input, "the input")) return -1;
  if (grad_out->dtype_ != input->dtype_)
    return oml_error("grad_out is %s but the input is %s", oml_dtype_name(grad_out->dtype_),
                     oml_dtype_name(input->dtype_));
  return check_shape(grad_out, "grad_out", ndim, size);
}

/* The contiguous tensor a kernel writes for out: out itself when it is
 * contiguous and apart from the kernel's input a, else a temporary that
 * finish_out copies back. */
static int begin_out(oml_tensor *out, const oml_tensor *a, oml_tensor *work) {
  if (oml_tensor_is_contiguous(out) && !oml_may_overlap(a, out)) return oml_tensor_alias(out, work);
  return oml_tensor_empty(work, out->ndim_, out->size_, out->dtype_, out->device_);
}

static int finish_out(oml_tensor *out, oml_tensor *work, int rc) {
  if (rc == 0 && work->data_ != out->data_) rc = oml_copy(work, out);
  oml_tensor_release(work);
  return rc;
}

typedef enum { MAX_FORWARD, MAX_BACKWARD, AVG_FORWARD, AVG_BACKWARD, ADAPTIVE_FORWARD, ADAPTIVE_BACKWARD } pool_kind;

/* the kernels on the CPU */
static int run_cpu(pool_kind kind, const oml_tensor *x, oml_tensor *work, oml_tensor *ix, const oml_pool2d *p) {
  switch (kind) {
  case MAX_FORWARD: oml_cpu_max_pool2d_forward(x, work, ix, p); break;
  case MAX_BACKWARD: oml_cpu_max_pool2d_backward(x, ix, work, p); break;
  case AVG_FORWARD: oml_cpu_avg_pool2d_forward(x, work, p); break;
  case AVG_BACKWARD: oml_cpu_avg_pool2d_backward(x, work, p); break;
  case ADAPTIVE_FORWARD: oml_cpu_adaptive_avg_pool2d_forward(x, work, p); break;
  case ADAPTIVE_BACKWARD: oml_cpu_adaptive_avg_pool2d_backward(x, work, p); break;
  }
  return 0;
}

#ifdef OML_WITH_CUDA
static int run_cuda(pool_kind kind, const oml_tensor *x, oml_tensor *work, oml_tensor *ix, const oml_pool2d *p) {
  switch (kind) {
  case MAX_FORWARD: return oml_cuda_max_pool2d_forward(x, work, ix, p);
  case MAX_BACKWARD: return oml_cuda_max_pool2d_backward(x, ix, work, p);
  case AVG_FORWARD: return oml_cuda_avg_pool2d_forward(x, work, p);
  case AVG_BACKWARD: return oml_cuda_avg_pool2d_backward(x, work, p);
  case ADAPTIVE_FORWARD: return oml_cuda_adaptive_avg_pool2d_forward(x, work, p);
  case ADAPTIVE_BACKWARD: return oml_cuda_adaptive_avg_pool2d_backward(x, work, p);
  }
  return 0;
}
#endif

/* Runs one kernel: src (input or grad_out) read contiguous, dst (out or
 * grad_input, with dst_ndim/dst_size) prepared and written; indices written
 * by the max forward (may be NULL), read by the max backward. */
static int run(pool_kind kind, const oml_tensor *src, oml_tensor *dst, int32_t dst_ndim, const int64_t *dst_size,
               oml_tensor *indices, const oml_pool2d *p) {
  if (dst == NULL) return oml_error("no output tensor");
  int fresh = dst->storage_ == NULL, fresh_ix = kind == MAX_FORWARD && indices && indices->storage_ == NULL;
  if (oml_out_prepare(dst, dst_ndim, dst_size, src->dtype_, src->device_)) return -1;
  int rc = 0;
  if (kind == MAX_FORWARD && indices) rc = oml_out_prepare(indices, dst_ndim, dst_size, OML_INT64, src->device_);
  if (rc == 0 && kind == MAX_FORWARD && indices && oml_may_overlap(dst, indices))
    rc = oml_error("the output and the indices share memory");
  oml_tensor x = oml_tensor_unset(), work = oml_tensor_unset(), ix = oml_tensor_unset(), ixw = oml_tensor_unset();
  if (rc == 0) rc = oml_tensor_contiguous(src, &x);
  if (rc == 0) rc = begin_out(dst, &x, &work);
  if (rc == 0 && indices && kind == MAX_FORWARD) rc = begin_out(indices, &x, &ixw);
  if (rc == 0 && kind == MAX_BACKWARD) rc = oml_tensor_contiguous(indices, &ix);
  oml_tensor *ixp = kind == MAX_BACKWARD ? &ix : (indices ? &ixw : NULL);
#ifdef OML_WITH_CUDA
  if (rc == 0 && x.device_ != OML_CPU) rc = run_cuda(kind, &x, &work, ixp, p);
  else
#endif
  if (rc == 0) rc = run_cpu(kind, &x, &work, ixp, p);
  rc = finish_out(dst, &work, rc);
  if (indices && kind == MAX_FORWARD) rc = finish_out(indices, &ixw, rc);
  oml_tensor_release(&x);
  oml_tensor_release(&ix);
  if (rc && fresh) oml_tensor_release(dst);
  if (rc && fresh_ix) oml_tensor_release(indices);
  return rc;
}

/* ---- max ------------------------------------------------------------------- */

int oml_max_pool2d_forward(const oml_tensor *input, oml_tensor *out, oml_tensor *indices, int32_t kernel_h,
                           int32_t kernel_w, int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                           int32_t dilation_h, int32_t dilation_w, int32_t ceil_mode) {
  oml_pool2d p = {0};
  if (pool_input(input, "the input", &p) ||
      pool_window(input, &p, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, ceil_mode))
    return -1;
  int64_t size[4];
  pooled_shape(input, p.out_h, p.out_w, size);
  return run(MAX_FORWARD, input, out, input->ndim_, size, indices, &p);
}

/* every index must name an element of its plane: 1..H*W */
static int check_indices(const oml_tensor *indices, int64_t plane) {
  oml_tensor ix = oml_tensor_unset();
  if (oml_tensor_contiguous(indices, &ix)) return -1;
  const int64_t *v = (const int64_t *)ix.data_;
  int64_t bad = -1;
  for (int64_t i = 0; i < ix.numel_ && bad < 0; i++)
    if (v[i] < 1 || v[i] > plane) bad = i;
  int rc = bad < 0 ? 0 : oml_error("index %lld at position %lld is out of range 1..%lld of a pooled plane",
                                   (long long)v[bad], (long long)bad + 1, (long long)plane);
  oml_tensor_release(&ix);
  return rc;
}

int oml_max_pool2d_backward(const oml_tensor *input, const oml_tensor *grad_out, const oml_tensor *indices,
                            oml_tensor *grad_input) {
  oml_pool2d p = {0};
  if (pool_input(input, "the input", &p)) return -1;
  if (indices == NULL) return oml_error("needs the indices from the forward pass");
  if (oml_check_set(indices, "the indices") || oml_check_device(indices, "the index tensor", input, "the input")) return -1;
  if (indices->dtype_ != OML_INT64)
    return oml_error("the indices are %s; expected int64", oml_dtype_name(indices->dtype_));
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  if (indices->ndim_ != input->ndim_)
    return oml_error("the indices of shape %s do not fit the input of shape %s", oml_shape_str(indices, a),
                     oml_shape_str(input, b));
  /* the output's shape is the indices' (made by the forward pass) */
  p.out_h = indices->size_[indices->ndim_ - 2];
  p.out_w = indices->size_[indices->ndim_ - 1];
  int64_t size[4];
  pooled_shape(input, p.out_h, p.out_w, size);
  if (check_shape(indices, "the index tensor", input->ndim_, size) ||
      check_grad_out(input, grad_out, input->ndim_, size))
    return -1;
  /* on a device the kernel skips bad indices: checking them would need a host round trip */
  if (indices->device_ == OML_CPU && check_indices(indices, p.in_h * p.in_w)) return -1;
  return run(MAX_BACKWARD, grad_out, grad_input, input->ndim_, input->size_, (oml_tensor *)indices, &p);
}

/* ---- average --------------------------------------------------------------- */

int oml_avg_pool2d_forward(const oml_tensor *input, oml_tensor *out, int32_t kernel_h, int32_t kernel_w,
                           int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w, int32_t ceil_mode,
                           int32_t count_include_pad) {
  oml_pool2d p = {0};
  if (pool_input(input, "the input", &p) ||
      pool_window(input, &p, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, 1, 1, ceil_mode))
    return -1;
  p.count_include_pad = count_include_pad != 0;
  int64_t size[4];
  pooled_shape(input, p.out_h, p.out_w, size);
  return run(AVG_FORWARD, input, out, input->ndim_, size, NULL, &p);
}

int oml_avg_pool2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            int32_t kernel_h, int32_t kernel_w, int32_t stride_h, int32_t stride_w, int32_t pad_h,
                            int32_t pad_w, int32_t ceil_mode, int32_t count_include_pad) {
  oml_pool2d p = {0};
  if (pool_input(input, "the input", &p) ||
      pool_window(input, &p, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, 1, 1, ceil_mode))
    return -1;
  p.count_include_pad = count_include_pad != 0;
  int64_t size[4];
  pooled_shape(input, p.out_h, p.out_w, size);
  if (check_grad_out(input, grad_out, input->ndim_, size)) return -1;
  return run(AVG_BACKWARD, grad_out, grad_input, input->ndim_, input->size_, NULL, &p);
}

/* ---- adaptive average ------------------------------------------------------ */

int oml_adaptive_avg_pool2d_forward(const oml_tensor *input, oml_tensor *out, int64_t out_h, int64_t out_w) {
  oml_pool2d p = {0};
  if (pool_input(input, "the input", &p)) return -1;
  if (out_h < 1 || out_w < 1)
    return oml_error("the output size must be positive (got %lldx%lld)", (long long)out_h, (long long)out_w);
  p.out_h = out_h;
  p.out_w = out_w;
  int64_t size[4];
  pooled_shape(input, out_h, out_w, size);
  return run(ADAPTIVE_FORWARD, input, out, input->ndim_, size, NULL, &p);
}

int oml_adaptive_avg_pool2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input) {
  oml_pool2d p = {0};
  if (pool_input(input, "the input", &p) || pool_input(grad_out, "grad_out", &(oml_pool2d){0})) return -1;
  p.out_h = grad_out->size_[grad_out->ndim_ - 2];
  p.out_w = grad_out->size_[grad_out->ndim_ - 1];
  int64_t size[4];
  pooled_shape(input, p.out_h, p.out_w, size);
  if (check_grad_out(input, grad_out, input->ndim_, size)) return -1;
  return run(ADAPTIVE_BACKWARD, grad_out, grad_input, input->ndim_, input->size_, NULL, &p);
}
