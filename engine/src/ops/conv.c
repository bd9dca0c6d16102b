/* ops/conv.c — conv2d forward and backward: argument checks, the output
 * geometry, and contiguous work tensors for the CPU or CUDA kernels. */
#include "../core/internal.h"
#include "../cpu/conv.h"
#ifdef OML_WITH_CUDA
#include "../cuda/conv.h"
#endif

#include <limits.h>
#include <stdio.h>

static int check_same_dtype(const oml_tensor *t, const char *what, const oml_tensor *input) {
  if (oml_check_real(t, what) || oml_check_device(t, what, input, "input")) return -1;
  if (t->dtype_ != input->dtype_)
    return oml_error("%s is %s but input is %s; convert one so that both have one dtype", what,
                     oml_dtype_name(t->dtype_), oml_dtype_name(input->dtype_));
  return 0;
}

static int check_shape(const oml_tensor *t, const char *what, int32_t ndim, const int64_t *size) {
  int same = t->ndim_ == ndim;
  for (int32_t d = 0; same && d < ndim; d++) same = t->size_[d] == size[d];
  if (same) return 0;
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  return oml_error("%s has shape %s; expected %s", what, oml_shape_str(t, a), oml_sizes_str(ndim, size, b));
}

/* Checks input, weight and the scalars, and works out the output's size. */
static int conv_geometry(const oml_tensor *input, const oml_tensor *weight, int32_t stride_h, int32_t stride_w,
                         int32_t pad_h, int32_t pad_w, int32_t dilation_h, int32_t dilation_w, int32_t groups,
                         oml_conv2d_geometry *g) {
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  if (oml_check_real(input, "input") || check_same_dtype(weight, "weight", input)) return -1;
  if (input->ndim_ != 4) return oml_error("input must be 4-d [N,C,H,W] (got shape %s)", oml_shape_str(input, a));
  if (weight->ndim_ != 4)
    return oml_error("weight must be 4-d [O,C/groups,kH,kW] (got shape %s)", oml_shape_str(weight, a));
  if (stride_h < 1 || stride_w < 1) return oml_error("stride must be positive (got %d, %d)", stride_h, stride_w);
  if (pad_h < 0 || pad_w < 0) return oml_error("padding must not be negative (got %d, %d)", pad_h, pad_w);
  if (dilation_h < 1 || dilation_w < 1)
    return oml_error("dilation must be positive (got %d, %d)", dilation_h, dilation_w);
  if (groups < 1) return oml_error("groups must be positive (got %d)", groups);
  *g = (oml_conv2d_geometry){.n = input->size_[0], .c = input->size_[1], .h = input->size_[2], .w = input->size_[3],
                             .o = weight->size_[0], .kh = weight->size_[2], .kw = weight->size_[3],
                             .stride_h = stride_h, .stride_w = stride_w, .pad_h = pad_h, .pad_w = pad_w,
                             .dilation_h = dilation_h, .dilation_w = dilation_w, .groups = groups};
  if (g->o % groups != 0)
    return oml_error("groups (%d) must divide the weight's %lld output channels", groups, (long long)g->o);
  if (g->c % groups != 0) return oml_error("groups (%d) must divide the input's %lld channels", groups, (long long)g->c);
  if (weight->size_[1] * groups != g->c)
    return oml_error("weight %s with groups=%d expects %lld input channels, but input %s has %lld",
                     oml_shape_str(weight, a), groups, (long long)(weight->size_[1] * groups),
                     oml_shape_str(input, b), (long long)g->c);
  if (g->kh < 1 || g->kw < 1) return oml_error("weight %s has an empty kernel", oml_shape_str(weight, a));
  int64_t eff_h = (int64_t)dilation_h * (g->kh - 1) + 1, eff_w = (int64_t)dilation_w * (g->kw - 1) + 1;
  int64_t padded_h = g->h + 2 * (int64_t)pad_h, padded_w = g->w + 2 * (int64_t)pad_w;
  if (eff_h > padded_h || eff_w > padded_w)
    return oml_error("kernel %lldx%lld (%lldx%lld dilated) is bigger than the padded input %lldx%lld",
                     (long long)g->kh, (long long)g->kw, (long long)eff_h, (long long)eff_w, (long long)padded_h,
                     (long long)padded_w);
  g->ho = (padded_h - eff_h) / stride_h + 1;
  g->wo = (padded_w - eff_w) / stride_w + 1;
  /* BLAS counts rows and columns in an int */
  if (g->c * g->kh * g->kw > INT_MAX || g->o > INT_MAX || g->ho * g->wo > INT_MAX / 64)
    return oml_error("input %s with weight %s is too large for BLAS", oml_shape_str(input, a),
                     oml_shape_str(weight, b));
  return 0;
}

static int shares(const oml_tensor *a, const oml_tensor *b) {
  return a != NULL && b != NULL && a->storage_ != NULL && a->storage_ == b->storage_;
}

/* work becomes t itself when the kernels may write it there (contiguous,
 * sharing no storage with what they read), else a fresh tensor; with
 * keep_values the fresh one starts as a copy of t (for accumulation). */
static int work_tensor(oml_tensor *t, const oml_tensor *const *reads, int nreads, int keep_values,
                       oml_tensor *work) {
  int direct = oml_tensor_is_contiguous(t);
  for (int i = 0; i < nreads; i++) direct = direct && !shares(t, reads[i]);
  if (direct) return oml_tensor_alias(t, work);
  if (keep_values) return oml_tensor_clone(t, work);
  return oml_tensor_empty(work, t->ndim_, t->size_, t->dtype_, t->device_);
}

/* Writes work back into t when work is a separate tensor. */
static int work_done(oml_tensor *t, const oml_tensor *work) {
  return work->storage_ == t->storage_ ? 0 : oml_copy(work, t);
}

int oml_conv2d_forward(const oml_tensor *input, oml_tensor *out, const oml_tensor *weight, const oml_tensor *bias,
                       int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w, int32_t dilation_h,
                       int32_t dilation_w, int32_t groups) {
  if (out == NULL) return oml_error("no output tensor");
  oml_conv2d_geometry g;
  if (conv_geometry(input, weight, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, &g)) return -1;
  if (bias && (check_same_dtype(bias, "bias", input) || check_shape(bias, "bias", 1, &g.o))) return -1;
  int64_t size[4] = {g.n, g.o, g.ho, g.wo};
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, 4, size, input->dtype_, input->device_)) return -1;
  const oml_tensor *reads[3] = {input, weight, bias};
  oml_tensor w = oml_tensor_unset(), work = oml_tensor_unset();
  int rc = oml_tensor_contiguous(weight, &w);
  if (rc == 0) rc = work_tensor(out, reads, 3, 0, &work);
#ifdef OML_WITH_CUDA
  if (rc == 0 && input->device_ != OML_CPU) rc = oml_cuda_conv2d_forward(input, &w, bias, &work, &g);
  else
#endif
  if (rc == 0) rc = oml_cpu_conv2d_forward(input, &w, bias, &work, &g);
  if (rc == 0) rc = work_done(out, &work);
  oml_tensor_release(&w);
  oml_tensor_release(&work);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

int oml_conv2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                        const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                        int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w, int32_t dilation_h,
                        int32_t dilation_w, int32_t groups) {
  oml_conv2d_geometry g;
  if (conv_geometry(input, weight, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, &g)) return -1;
  int64_t out_size[4] = {g.n, g.o, g.ho, g.wo};
  if (check_same_dtype(grad_out, "grad_output", input) || check_shape(grad_out, "grad_output", 4, out_size))
    return -1;
  if (grad_weight && (check_same_dtype(grad_weight, "grad_weight", input) ||
                      check_shape(grad_weight, "grad_weight", 4, weight->size_) ||
                      oml_check_writable(grad_weight, "grad_weight")))
    return -1;
  if (grad_bias && (check_same_dtype(grad_bias, "grad_bias", input) || check_shape(grad_bias, "grad_bias", 1, &g.o) ||
                    oml_check_writable(grad_bias, "grad_bias")))
    return -1;
  if (shares(grad_weight, grad_bias)) return oml_error("grad_weight and grad_bias share storage");
  int fresh = grad_input && grad_input->storage_ == NULL;
  if (grad_input && oml_out_prepare(grad_input, 4, input->size_, input->dtype_, input->device_)) return -1;
  /* every result is computed apart from what the kernels read */
  const oml_tensor *reads[5] = {input, grad_out, weight, grad_weight, grad_bias};
  oml_tensor w = oml_tensor_unset(), gi = oml_tensor_unset(), gw = oml_tensor_unset(), gb = oml_tensor_unset();
  int rc = oml_tensor_contiguous(weight, &w);
  if (rc == 0 && grad_input) rc = work_tensor(grad_input, reads, 5, 0, &gi);
  if (rc == 0 && grad_weight) rc = work_tensor(grad_weight, reads, 3, 1, &gw);
  if (rc == 0 && grad_bias) rc = work_tensor(grad_bias, reads, 3, 1, &gb);
#ifdef OML_WITH_CUDA
  if (rc == 0 && input->device_ != OML_CPU)
    rc = oml_cuda_conv2d_backward(input, grad_out, grad_input ? &gi : NULL, &w, grad_weight ? &gw : NULL,
                                  grad_bias ? &gb : NULL, &g);
  else
#endif
  if (rc == 0)
    rc = oml_cpu_conv2d_backward(input, grad_out, grad_input ? &gi : NULL, &w, grad_weight ? &gw : NULL,
                                 grad_bias ? &gb : NULL, &g);
  if (rc == 0 && grad_input) rc = work_done(grad_input, &gi);
  if (rc == 0 && grad_weight) rc = work_done(grad_weight, &gw);
  if (rc == 0 && grad_bias) rc = work_done(grad_bias, &gb);
  oml_tensor_release(&w);
  oml_tensor_release(&gi);
  oml_tensor_release(&gw);
  oml_tensor_release(&gb);
  if (rc && fresh) oml_tensor_release(grad_input);
  return rc;
}
