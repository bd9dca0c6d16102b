/* core/optim_math.h — the optimizers' per-element updates, shared by the CPU
 * kernels (cpu/optim.c) and the CUDA ones (cuda/optim.cu).
 *
 * Each update is one pass that reads and writes every element once, where
 * PyTorch's single-tensor step runs several tensor ops; the arithmetic is
 * theirs, op by op and in their order, in the parameter's dtype (PyTorch casts
 * each Python float it passes to a tensor op to that dtype). Its add(x,
 * alpha=a) is a fused multiply-add on vectors, hence the FMA calls. */
#ifndef OML_OPTIM_MATH_H
#define OML_OPTIM_MATH_H

#include "scalar_math.h"

#include <math.h>
#include <stdint.h>

/* The scalars of one SGD step. first: the momentum buffer starts as the
 * gradient (PyTorch's first step with momentum) instead of being decayed. */
typedef struct oml_sgd_scalars {
  double neg_lr, momentum, one_minus_dampening, weight_decay;
  int32_t nesterov, first;
} oml_sgd_scalars;

/* The scalars of one Adam step: weight_decay is the L2 term added to the
 * gradient (0 for AdamW), decay AdamW's factor 1 - lr * weight_decay (1 for
 * Adam), neg_step_size -lr / (1 - beta1^step). */
typedef struct oml_adam_scalars {
  double beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, decay, neg_step_size, bias_correction2_sqrt,
      eps;
} oml_adam_scalars;

/* One element of SGD: d_p = g + wd p; buf = momentum buf + (1 - dampening) d_p;
 * d_p = nesterov ? d_p + momentum buf : buf; p -= lr d_p. buf is NULL
 * without momentum. */
#define OML_SGD_ELEMENT(SUFFIX, T, FMA)                                                         \
  OML_HD static inline void oml_sgd_element_##SUFFIX(T *p, T g, T *buf, oml_sgd_scalars s) {    \
    T x = *p;                                                                                   \
    if (s.weight_decay != 0) g = FMA(x, (T)s.weight_decay, g);                                  \
    if (s.momentum != 0) {                                                                      \
      T b = s.first ? g : FMA(g, (T)s.one_minus_dampening, *buf * (T)s.momentum);               \
      *buf = b;                                                                                 \
      g = s.nesterov ? FMA(b, (T)s.momentum, g) : b;                                            \
    }                                                                                           \
    *p = FMA(g, (T)s.neg_lr, x);                                                                \
  }

/* One element of Adam/AdamW: m = beta1 m + (1 - beta1) g; v = beta2 v +
 * (1 - beta2) g g; p += -step_size m / (sqrt(v) / sqrt(1 - beta2^step) + eps). */
#define OML_ADAM_ELEMENT(SUFFIX, T, FMA, SQRT)                                                  \
  OML_HD static inline void oml_adam_element_##SUFFIX(T *p, T g, T *m, T *v, oml_adam_scalars s) { \
    T x = *p;                                                                                   \
    if (s.weight_decay != 0) g = FMA(x, (T)s.weight_decay, g);                                  \
    if (s.decay != 1) x = x * (T)s.decay;                                                       \
    T mm = FMA(g, (T)s.one_minus_beta1, *m * (T)s.beta1);                                       \
    T vv = *v * (T)s.beta2 + (T)s.one_minus_beta2 * g * g;                                      \
    T denom = SQRT(vv) / (T)s.bias_correction2_sqrt + (T)s.eps;                                 \
    *m = mm;                                                                                    \
    *v = vv;                                                                                    \
    *p = x + (T)s.neg_step_size * mm / denom;                                                   \
  }

OML_SGD_ELEMENT(f32, float, fmaf)
OML_SGD_ELEMENT(f64, double, fma)
OML_ADAM_ELEMENT(f32, float, fmaf, sqrtf)
OML_ADAM_ELEMENT(f64, double, fma, sqrt)

#endif
