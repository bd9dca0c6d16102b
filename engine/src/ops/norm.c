/* ops/norm.c — batch norm and layer norm: checks, result shapes, then on
 * the CPU the small per-channel bookkeeping (parameters, running and saved
 * statistics, which may be any strided view) in float64 and the kernels of
 * cpu/norm; on a device, cuda/norm does all of it there. */
#include "../core/internal.h"
#include "../cpu/norm.h"
#ifdef OML_WITH_CUDA
#include "../cuda/norm.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- helpers shared by both norms --------------------------------------- */

/* A vector argument (weight, bias, statistics, their gradients): [n] of the
 * input's dtype, on its device; NULL passes. */
static int check_vector(const oml_tensor *t, const char *what, int64_t n, const oml_tensor *input, const char *per) {
  if (t == NULL) return 0;
  if (oml_check_real(t, what) || oml_check_device(t, what, input, "the input")) return -1;
  char s[OML_SHAPE_BUF];
  if (t->ndim_ != 1 || t->size_[0] != n)
    return oml_error("%s has shape %s but the input has %lld %s", what, oml_shape_str(t, s), (long long)n, per);
  if (t->dtype_ != input->dtype_)
    return oml_error("%s is %s but the input is %s", what, oml_dtype_name(t->dtype_), oml_dtype_name(input->dtype_));
  return 0;
}

static int check_same(const oml_tensor *input, const oml_tensor *grad_out) {
  if (oml_check_real(grad_out, "grad_out") || oml_check_device(grad_out, "grad_out", input, "the input")) return -1;
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  int same = input->ndim_ == grad_out->ndim_ && input->dtype_ == grad_out->dtype_;
  for (int32_t d = 0; same && d < input->ndim_; d++) same = input->size_[d] == grad_out->size_[d];
  if (!same)
    return oml_error("grad_out (%s %s) does not match the input (%s %s)", oml_dtype_name(grad_out->dtype_),
                     oml_shape_str(grad_out, a), oml_dtype_name(input->dtype_), oml_shape_str(input, b));
  return 0;
}

static void load_vector(const oml_tensor *t, double *dst) {
  int64_t es = oml_dtype_size(t->dtype_);
  for (int64_t i = 0; i < t->size_[0]; i++) dst[i] = oml_load(t->data_ + i * t->stride_[0] * es, t->dtype_);
}

static void store_vector(oml_tensor *t, const double *src) {
  int64_t es = oml_dtype_size(t->dtype_);
  for (int64_t i = 0; i < t->size_[0]; i++) oml_store(t->data_ + i * t->stride_[0] * es, t->dtype_, src[i]);
}

/* t += src, for the accumulated parameter gradients */
static void accumulate_vector(oml_tensor *t, const double *src) {
  int64_t es = oml_dtype_size(t->dtype_);
  for (int64_t i = 0; i < t->size_[0]; i++) {
    char *p = t->data_ + i * t->stride_[0] * es;
    oml_store(p, t->dtype_, oml_load(p, t->dtype_) + src[i]);
  }
}

/* The contiguous tensor a kernel writes for out: out itself when it is
 * contiguous and apart from the inputs a and b, else a temporary that
 * finish_out copies back. */
static int begin_out(oml_tensor *out, const oml_tensor *a, const oml_tensor *b, oml_tensor *work) {
  if (oml_tensor_is_contiguous(out) && !oml_may_overlap(a, out) && (b == NULL || !oml_may_overlap(b, out)))
    return oml_tensor_alias(out, work);
  return oml_tensor_empty(work, out->ndim_, out->size_, out->dtype_, out->device_);
}

static int finish_out(oml_tensor *out, oml_tensor *work, int rc) {
  if (rc == 0 && work->data_ != out->data_) rc = oml_copy(work, out);
  oml_tensor_release(work);
  return rc;
}

/* ---- batch norm ----------------------------------------------------------- */

static int bn_shape(const oml_tensor *input, oml_bn_shape *sh) {
  char s[OML_SHAPE_BUF];
  if (input->ndim_ < 2)
    return oml_error("expects an input [N,C] or [N,C,...] (got shape %s)", oml_shape_str(input, s));
  sh->n = input->size_[0];
  sh->c = input->size_[1];
  sh->s = 1;
  for (int32_t d = 2; d < input->ndim_; d++) sh->s *= input->size_[d];
  return 0;
}

/* One block of 6 float64 vectors of c entries, for weight, bias and statistics */
static double *channel_vectors(int64_t c) {
  double *v = calloc(6 * (size_t)c + 1, sizeof(double));
  if (v == NULL) oml_error("out of memory for %lld channels", (long long)c);
  return v;
}

/* The CPU's forward: the per-channel bookkeeping in float64 around the
 * kernels; x and work contiguous, save_mean/save_invstd NULL in evaluation. */
static int bn_forward_cpu(const oml_tensor *x, oml_tensor *work, oml_bn_shape sh, const oml_tensor *weight,
                          const oml_tensor *bias, oml_tensor *running_mean, oml_tensor *running_var,
                          oml_tensor *save_mean, oml_tensor *save_invstd, int32_t training, double momentum,
                          double eps) {
  double *v = channel_vectors(sh.c);
  if (v == NULL) return -1;
  int rc = 0;
  double *w = v, *b = v + sh.c, *mean = v + 2 * sh.c, *var = v + 3 * sh.c, *invstd = v + 4 * sh.c,
         *shift = v + 5 * sh.c;
  for (int64_t ch = 0; ch < sh.c; ch++) w[ch] = 1; /* b stays 0 */
  if (weight) load_vector(weight, w);
  if (bias) load_vector(bias, b);
  const int64_t m = sh.n * sh.s;
  if (training && m == 0) {
    /* nothing to normalise; the running statistics stay as they are, as PyTorch's */
  } else if (training) {
    rc = oml_cpu_batch_norm_train(x, work, sh, w, b, eps, mean, var);
    for (int64_t ch = 0; ch < sh.c && rc == 0; ch++) {
      invstd[ch] = oml_norm_invstd(var[ch], (double)m, eps);
      var[ch] /= (double)(m - 1); /* unbiased, for the running variance */
    }
    if (rc == 0 && running_mean) {
      load_vector(running_mean, shift);
      for (int64_t ch = 0; ch < sh.c; ch++) shift[ch] = oml_norm_running(momentum, mean[ch], shift[ch]);
      store_vector(running_mean, shift);
    }
    if (rc == 0 && running_var) {
      load_vector(running_var, shift);
      for (int64_t ch = 0; ch < sh.c; ch++) shift[ch] = oml_norm_running(momentum, var[ch], shift[ch]);
      store_vector(running_var, shift);
    }
  } else {
    load_vector(running_mean, mean);
    load_vector(running_var, var);
    for (int64_t ch = 0; ch < sh.c; ch++) /* w becomes the scale */
      oml_bn_train_affine(w[ch], b[ch], mean[ch], var[ch], 1.0, eps, w + ch, shift + ch);
    oml_cpu_batch_norm_affine(x, work, sh, w, shift);
  }
  if (rc == 0 && save_mean) store_vector(save_mean, mean);
  if (rc == 0 && save_invstd) store_vector(save_invstd, invstd);
  free(v);
  return rc;
}

int oml_batch_norm_forward(const oml_tensor *input, oml_tensor *out, const oml_tensor *weight, const oml_tensor *bias,
                           oml_tensor *running_mean, oml_tensor *running_var, oml_tensor *save_mean,
                           oml_tensor *save_invstd, int32_t training, double momentum, double eps) {
  oml_bn_shape sh;
  if (oml_check_real(input, "the input") || bn_shape(input, &sh)) return -1;
  int32_t dt = input->dtype_;
  if (check_vector(weight, "the weight", sh.c, input, "channels") ||
      check_vector(bias, "the bias", sh.c, input, "channels") ||
      check_vector(running_mean, "running_mean", sh.c, input, "channels") ||
      check_vector(running_var, "running_var", sh.c, input, "channels"))
    return -1;
  if (running_mean && oml_check_writable(running_mean, "running_mean")) return -1;
  if (running_var && oml_check_writable(running_var, "running_var")) return -1;
  if (!training && (running_mean == NULL || running_var == NULL))
    return oml_error("evaluation needs running_mean and running_var");
  if (!(eps >= 0)) return oml_error("eps must be >= 0 (got %g)", eps);
  if (momentum != momentum) return oml_error("momentum must not be NaN");
  char s[OML_SHAPE_BUF];
  if (training && sh.n * sh.s == 1)
    return oml_error("expects more than 1 value per channel when training (got input shape %s)",
                     oml_shape_str(input, s));
  if (out == NULL) return oml_error("no output tensor");
  int fresh_out = out->storage_ == NULL, fresh_mean = save_mean && !save_mean->storage_,
      fresh_invstd = save_invstd && !save_invstd->storage_;
  if (oml_out_prepare(out, input->ndim_, input->size_, dt, input->device_)) return -1;
  int rc = 0;
  if (training && save_mean) rc = oml_out_prepare(save_mean, 1, &sh.c, dt, input->device_);
  if (rc == 0 && training && save_invstd) rc = oml_out_prepare(save_invstd, 1, &sh.c, dt, input->device_);
  oml_tensor x = oml_tensor_unset(), work = oml_tensor_unset();
  if (rc == 0) rc = oml_tensor_contiguous(input, &x);
  if (rc == 0) rc = begin_out(out, &x, NULL, &work);
  oml_tensor *sm = training ? save_mean : NULL, *si = training ? save_invstd : NULL;
#ifdef OML_WITH_CUDA
  if (rc == 0 && x.device_ != OML_CPU)
    rc = oml_cuda_batch_norm_forward(&x, &work, sh, weight, bias, running_mean, running_var, sm, si, training,
                                     momentum, eps);
  else
#endif
  if (rc == 0)
    rc = bn_forward_cpu(&x, &work, sh, weight, bias, running_mean, running_var, sm, si, training, momentum, eps);
  rc = finish_out(out, &work, rc);
  oml_tensor_release(&x);
  if (rc) {
    if (fresh_out) oml_tensor_release(out);
    if (fresh_mean) oml_tensor_release(save_mean);
    if (fresh_invstd) oml_tensor_release(save_invstd);
  }
  return rc;
}

/* The CPU's backward, as bn_forward_cpu; mean_t/stat_t are save_mean/save_invstd
 * in training, running_mean/running_var in evaluation. */
static int bn_backward_cpu(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, oml_bn_shape sh,
                           const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                           const oml_tensor *mean_t, const oml_tensor *stat_t, int32_t training, double eps) {
  double *v = channel_vectors(sh.c);
  if (v == NULL) return -1;
  double *w = v, *mean = v + sh.c, *invstd = v + 2 * sh.c, *sum_dy = v + 3 * sh.c, *dot = v + 4 * sh.c;
  for (int64_t ch = 0; ch < sh.c; ch++) w[ch] = 1;
  if (weight) load_vector(weight, w);
  load_vector(mean_t, mean);
  load_vector(stat_t, invstd);
  if (!training)
    for (int64_t ch = 0; ch < sh.c; ch++) invstd[ch] = oml_norm_invstd(invstd[ch], 1.0, eps);
  int rc = oml_cpu_batch_norm_backward(x, dy, dx, sh, mean, invstd, w, training, sum_dy, dot);
  if (rc == 0 && grad_weight) {
    for (int64_t ch = 0; ch < sh.c; ch++) dot[ch] *= invstd[ch];
    accumulate_vector(grad_weight, dot);
  }
  if (rc == 0 && grad_bias) accumulate_vector(grad_bias, sum_dy);
  free(v);
  return rc;
}

int oml_batch_norm_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                            const oml_tensor *running_mean, const oml_tensor *running_var,
                            const oml_tensor *save_mean, const oml_tensor *save_invstd, int32_t training, double eps) {
  oml_bn_shape sh;
  if (oml_check_real(input, "the input") || bn_shape(input, &sh) || check_same(input, grad_out)) return -1;
  int32_t dt = input->dtype_;
  if (check_vector(weight, "the weight", sh.c, input, "channels") ||
      check_vector(grad_weight, "grad_weight", sh.c, input, "channels") ||
      check_vector(grad_bias, "grad_bias", sh.c, input, "channels"))
    return -1;
  if (grad_weight && oml_check_writable(grad_weight, "grad_weight")) return -1;
  if (grad_bias && oml_check_writable(grad_bias, "grad_bias")) return -1;
  const oml_tensor *mean_t = training ? save_mean : running_mean, *stat_t = training ? save_invstd : running_var;
  if (mean_t == NULL || stat_t == NULL)
    return oml_error(training ? "training needs save_mean and save_invstd from the forward pass"
                              : "evaluation needs running_mean and running_var");
  if (check_vector(mean_t, training ? "save_mean" : "running_mean", sh.c, input, "channels") ||
      check_vector(stat_t, training ? "save_invstd" : "running_var", sh.c, input, "channels"))
    return -1;
  if (!(eps >= 0)) return oml_error("eps must be >= 0 (got %g)", eps);
  int fresh = grad_input && grad_input->storage_ == NULL;
  if (grad_input && oml_out_prepare(grad_input, input->ndim_, input->size_, dt, input->device_)) return -1;
  oml_tensor x = oml_tensor_unset(), dy = oml_tensor_unset(), work = oml_tensor_unset();
  int rc = oml_tensor_contiguous(input, &x);
  if (rc == 0) rc = oml_tensor_contiguous(grad_out, &dy);
  if (rc == 0 && grad_input) rc = begin_out(grad_input, &x, &dy, &work);
  oml_tensor *gi = grad_input ? &work : NULL;
#ifdef OML_WITH_CUDA
  if (rc == 0 && x.device_ != OML_CPU)
    rc = oml_cuda_batch_norm_backward(&x, &dy, gi, sh, weight, grad_weight, grad_bias, mean_t, stat_t, training, eps);
  else
#endif
  if (rc == 0)
    rc = bn_backward_cpu(&x, &dy, gi, sh, weight, grad_weight, grad_bias, mean_t, stat_t, training, eps);
  if (grad_input) rc = finish_out(grad_input, &work, rc);
  oml_tensor_release(&x);
  oml_tensor_release(&dy);
  if (rc && fresh) oml_tensor_release(grad_input);
  return rc;
}

/* ---- layer norm ----------------------------------------------------------- */

static int ln_shape(const oml_tensor *input, int64_t *rows, int64_t *d) {
  char s[OML_SHAPE_BUF];
  if (input->ndim_ < 1) return oml_error("expects an input [...,D] with at least 1 dim (got a scalar)");
  *d = input->size_[input->ndim_ - 1];
  if (*d == 0) return oml_error("the last dim of the input is empty (shape %s)", oml_shape_str(input, s));
  *rows = input->numel_ / *d;
  return 0;
}

/* the saved statistics: one per row, shaped as the input without its last dim */
static int check_stats(const oml_tensor *t, const char *what, const oml_tensor *input) {
  if (oml_check_real(t, what) || oml_check_device(t, what, input, "the input")) return -1;
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  int same = t->ndim_ == input->ndim_ - 1 && t->dtype_ == input->dtype_;
  for (int32_t d = 0; same && d < t->ndim_; d++) same = t->size_[d] == input->size_[d];
  if (!same)
    return oml_error("%s (%s %s) does not match the input (%s %s): expected its shape without the last dim", what,
                     oml_dtype_name(t->dtype_), oml_shape_str(t, a), oml_dtype_name(input->dtype_),
                     oml_shape_str(input, b));
  return 0;
}

int oml_layer_norm_forward(const oml_tensor *input, oml_tensor *out, const oml_tensor *weight, const oml_tensor *bias,
                           oml_tensor *save_mean, oml_tensor *save_invstd, double eps) {
  int64_t rows = 0, d = 0;
  if (oml_check_real(input, "the input") || ln_shape(input, &rows, &d)) return -1;
  int32_t dt = input->dtype_;
  if (check_vector(weight, "the weight", d, input, "features in its last dim") ||
      check_vector(bias, "the bias", d, input, "features in its last dim"))
    return -1;
  if (!(eps >= 0)) return oml_error("eps must be >= 0 (got %g)", eps);
  if (out == NULL) return oml_error("no output tensor");
  int fresh_out = out->storage_ == NULL, fresh_mean = save_mean && !save_mean->storage_,
      fresh_invstd = save_invstd && !save_invstd->storage_;
  if (oml_out_prepare(out, input->ndim_, input->size_, dt, input->device_)) return -1;
  int rc = 0;
  if (save_mean) rc = oml_out_prepare(save_mean, input->ndim_ - 1, input->size_, dt, input->device_);
  if (rc == 0 && save_invstd) rc = oml_out_prepare(save_invstd, input->ndim_ - 1, input->size_, dt, input->device_);
  oml_tensor x = oml_tensor_unset(), w = oml_tensor_unset(), b = oml_tensor_unset();
  oml_tensor work = oml_tensor_unset(), wm = oml_tensor_unset(), wi = oml_tensor_unset();
  if (rc == 0) rc = oml_tensor_contiguous(input, &x);
  if (rc == 0 && weight) rc = oml_tensor_contiguous(weight, &w);
  if (rc == 0 && bias) rc = oml_tensor_contiguous(bias, &b);
  if (rc == 0) rc = begin_out(out, &x, NULL, &work);
  if (rc == 0 && save_mean) rc = begin_out(save_mean, &x, NULL, &wm);
  if (rc == 0 && save_invstd) rc = begin_out(save_invstd, &x, NULL, &wi);
#ifdef OML_WITH_CUDA
  if (rc == 0 && x.device_ != OML_CPU)
    rc = oml_cuda_layer_norm_forward(&x, &work, rows, d, weight ? &w : NULL, bias ? &b : NULL, eps,
                                     save_mean ? &wm : NULL, save_invstd ? &wi : NULL);
  else
#endif
  if (rc == 0)
    oml_cpu_layer_norm_forward(&x, &work, rows, d, weight ? &w : NULL, bias ? &b : NULL, eps,
                               save_mean ? &wm : NULL, save_invstd ? &wi : NULL);
  rc = finish_out(out, &work, rc);
  if (save_mean) rc = finish_out(save_mean, &wm, rc);
  if (save_invstd) rc = finish_out(save_invstd, &wi, rc);
  oml_tensor_release(&x);
  oml_tensor_release(&w);
  oml_tensor_release(&b);
  if (rc) {
    if (fresh_out) oml_tensor_release(out);
    if (fresh_mean) oml_tensor_release(save_mean);
    if (fresh_invstd) oml_tensor_release(save_invstd);
  }
  return rc;
}

int oml_layer_norm_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                            const oml_tensor *save_mean, const oml_tensor *save_invstd) {
  int64_t rows = 0, d = 0;
  if (oml_check_real(input, "the input") || ln_shape(input, &rows, &d) || check_same(input, grad_out)) return -1;
  int32_t dt = input->dtype_;
  const char *per = "features in its last dim";
  if (check_vector(weight, "the weight", d, input, per) || check_vector(grad_weight, "grad_weight", d, input, per) ||
      check_vector(grad_bias, "grad_bias", d, input, per))
    return -1;
  if (grad_weight && oml_check_writable(grad_weight, "grad_weight")) return -1;
  if (grad_bias && oml_check_writable(grad_bias, "grad_bias")) return -1;
  if (save_mean == NULL || save_invstd == NULL)
    return oml_error("needs save_mean and save_invstd from the forward pass");
  if (check_stats(save_mean, "save_mean", input) || check_stats(save_invstd, "save_invstd", input)) return -1;
  int fresh = grad_input && grad_input->storage_ == NULL;
  if (grad_input && oml_out_prepare(grad_input, input->ndim_, input->size_, dt, input->device_)) return -1;
  /* the CPU's column sums of the parameter gradients (a device adds its own there) */
  double *sums = input->device_ == OML_CPU ? calloc(2 * (size_t)d + 1, sizeof(double)) : NULL;
  int rc = sums || input->device_ != OML_CPU ? 0 : oml_error("out of memory for %lld features", (long long)d);
  oml_tensor x = oml_tensor_unset(), dy = oml_tensor_unset(), w = oml_tensor_unset(), mean = oml_tensor_unset();
  oml_tensor invstd = oml_tensor_unset(), work = oml_tensor_unset();
  if (rc == 0) rc = oml_tensor_contiguous(input, &x);
  if (rc == 0) rc = oml_tensor_contiguous(grad_out, &dy);
  if (rc == 0 && weight) rc = oml_tensor_contiguous(weight, &w);
  if (rc == 0) rc = oml_tensor_contiguous(save_mean, &mean);
  if (rc == 0) rc = oml_tensor_contiguous(save_invstd, &invstd);
  if (rc == 0 && grad_input) rc = begin_out(grad_input, &x, &dy, &work);
#ifdef OML_WITH_CUDA
  if (rc == 0 && x.device_ != OML_CPU)
    rc = oml_cuda_layer_norm_backward(&x, &dy, grad_input ? &work : NULL, rows, d, weight ? &w : NULL, &mean,
                                      &invstd, grad_weight, grad_bias);
  else
#endif
  if (rc == 0) {
    rc = oml_cpu_layer_norm_backward(&x, &dy, grad_input ? &work : NULL, rows, d, weight ? &w : NULL, &mean, &invstd,
                                     grad_weight ? sums : NULL, grad_bias ? sums + d : NULL);
    if (rc == 0 && grad_weight) accumulate_vector(grad_weight, sums);
    if (rc == 0 && grad_bias) accumulate_vector(grad_bias, sums + d);
  }
  if (grad_input) rc = finish_out(grad_input, &work, rc);
  oml_tensor *temps[5] = {&x, &dy, &w, &mean, &invstd};
  for (int i = 0; i < 5; i++) oml_tensor_release(temps[i]);
  free(sums);
  if (rc && fresh) oml_tensor_release(grad_input);
  return rc;
}
