/* ops/optim.c — the optimizers' fused updates: checks of the tensors and
 * hyperparameters, the scalars PyTorch derives from them, then the kernels
 * of the parameter's device. */
#include "../core/internal.h"
#include "../cpu/optim.h"
#ifdef OML_WITH_CUDA
#include "../cuda/optim.h"
#endif

#include <math.h>
#include <stdio.h>

/* The two tensors lie in one storage and touch a common element. */
static int share_memory(const oml_tensor *a, const oml_tensor *b) {
  if (a->storage_ != b->storage_) return 0;
  int64_t alo, ahi, blo, bhi;
  oml_tensor_span(a, &alo, &ahi);
  oml_tensor_span(b, &blo, &bhi);
  return alo <= ahi && blo <= bhi && alo <= bhi && blo <= ahi;
}

/* param: a set, contiguous float32/float64 tensor. */
static int check_param(const oml_tensor *param) {
  if (param == NULL) return oml_error("no parameter tensor");
  if (oml_check_real(param, "the parameter")) return -1;
  if (!oml_tensor_is_contiguous(param)) return oml_error("the parameter must be contiguous");
  return 0;
}

/* t has param's device, shape and dtype and is contiguous; a written tensor
 * (writes = 1) shares no memory with param, a read one may be param itself
 * but no other view of its memory. */
static int check_like(const oml_tensor *t, const oml_tensor *param, const char *what, int writes) {
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  if (t == NULL) return oml_error("no %s tensor", what);
  if (oml_check_real(t, what)) return -1;
  if (oml_check_device(t, what, param, "the parameter")) return -1;
  if (t->dtype_ != param->dtype_)
    return oml_error("%s is %s but the parameter is %s", what, oml_dtype_name(t->dtype_),
                     oml_dtype_name(param->dtype_));
  int same = t->ndim_ == param->ndim_;
  for (int32_t d = 0; same && d < t->ndim_; d++) same = t->size_[d] == param->size_[d];
  if (!same)
    return oml_error("%s has size %s but the parameter has size %s", what, oml_shape_str(t, a),
                     oml_shape_str(param, b));
  if (!oml_tensor_is_contiguous(t)) return oml_error("%s must be contiguous", what);
  if (writes ? share_memory(t, param) : oml_may_overlap(t, param))
    return oml_error("%s shares memory with the parameter", what);
  return 0;
}

static int check_step(int64_t step) {
  if (step < 1) return oml_error("the step count must be >= 1 (got %lld)", (long long)step);
  return 0;
}

/* A hyperparameter that must be >= 0 (NaN is not). */
static int check_nonnegative(double x, const char *what) {
  if (!(x >= 0)) return oml_error("%s must be >= 0 (got %g)", what, x);
  return 0;
}

int oml_sgd_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer, double lr, double momentum,
                 double dampening, double weight_decay, int32_t nesterov, int64_t step) {
  if (check_param(param) || check_like(grad, param, "the gradient", 0)) return -1;
  if (check_nonnegative(lr, "the learning rate") || check_nonnegative(momentum, "momentum") ||
      check_nonnegative(weight_decay, "weight_decay") || check_step(step))
    return -1;
  if (!isfinite(dampening)) return oml_error("dampening must be finite (got %g)", dampening);
  if (nesterov && (momentum <= 0 || dampening != 0))
    return oml_error("nesterov momentum requires a momentum > 0 and zero dampening");
  if (momentum != 0) {
    if (momentum_buffer == NULL) return oml_error("momentum %g needs a momentum buffer", momentum);
    if (check_like(momentum_buffer, param, "the momentum buffer", 1)) return -1;
    if (oml_may_overlap(grad, momentum_buffer)) return oml_error("the gradient shares memory with the momentum buffer");
  }
  oml_sgd_scalars s = {-lr, momentum, 1 - dampening, weight_decay, nesterov != 0, step == 1};
  oml_tensor *buffer = momentum != 0 ? momentum_buffer : NULL;
#ifdef OML_WITH_CUDA
  if (param->device_ != OML_CPU) return oml_cuda_sgd_step(param, grad, buffer, s);
#endif
  oml_cpu_sgd_step(param, grad, buffer, s);
  return 0;
}

static int check_beta(double beta, const char *what) {
  if (!(beta >= 0 && beta < 1)) return oml_error("%s must be in [0, 1) (got %g)", what, beta);
  return 0;
}

int oml_adam_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg, oml_tensor *exp_avg_sq, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int32_t decoupled, int64_t step) {
  if (check_param(param) || check_like(grad, param, "the gradient", 0) ||
      check_like(exp_avg, param, "exp_avg", 1) || check_like(exp_avg_sq, param, "exp_avg_sq", 1))
    return -1;
  if (share_memory(exp_avg, exp_avg_sq)) return oml_error("exp_avg and exp_avg_sq share memory");
  if (oml_may_overlap(grad, exp_avg) || oml_may_overlap(grad, exp_avg_sq))
    return oml_error("the gradient shares memory with exp_avg or exp_avg_sq");
  if (check_nonnegative(lr, "the learning rate") || check_beta(beta1, "beta1") || check_beta(beta2, "beta2") ||
      check_nonnegative(eps, "eps") || check_nonnegative(weight_decay, "weight_decay") || check_step(step))
    return -1;
  /* PyTorch: bias corrections in Python floats, step_size = lr / bc1 */
  double bias_correction1 = 1 - pow(beta1, (double)step), bias_correction2 = 1 - pow(beta2, (double)step);
  oml_adam_scalars s = {
      .beta1 = beta1,
      .beta2 = beta2,
      .one_minus_beta1 = 1 - beta1,
      .one_minus_beta2 = 1 - beta2,
      .weight_decay = decoupled ? 0 : weight_decay,
      .decay = decoupled ? 1 - lr * weight_decay : 1,
      .neg_step_size = -(lr / bias_correction1),
      .bias_correction2_sqrt = sqrt(bias_correction2),
      .eps = eps,
  };
#ifdef OML_WITH_CUDA
  if (param->device_ != OML_CPU) return oml_cuda_adam_step(param, grad, exp_avg, exp_avg_sq, s);
#endif
  oml_cpu_adam_step(param, grad, exp_avg, exp_avg_sq, s);
  return 0;
}
