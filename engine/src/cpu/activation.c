/* cpu/activation.c — elementwise activations (through the strided iterator)
 * and softmax along a dim (one line per iteration, spread over threads).
 * float32 uses the vectorisable oml_expf; contiguous lines get loops the
 * compiler vectorises. */
#include "activation.h"
#include "../core/activation_math.h"

/* ---- activations ---------------------------------------------------------- */

/* operands: out, input */
#define FORWARD_LOOP(NAME, T, F)                                                \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {          \
    (void)ctx;                                                                  \
    if (s[0] == (int64_t)sizeof(T) && s[1] == (int64_t)sizeof(T)) {             \
      T *o = (T *)p[0];                                                         \
      const T *x = (const T *)p[1];                                             \
      for (int64_t i = 0; i < n; i++) o[i] = F(x[i]);                           \
    } else {                                                                    \
      for (int64_t i = 0; i < n; i++) *(T *)(p[0] + i * s[0]) = F(*(const T *)(p[1] + i * s[1])); \
    }                                                                           \
  }

/* operands: grad_input, input, grad_out */
#define BACKWARD_LOOP(NAME, T, DF)                                              \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {          \
    (void)ctx;                                                                  \
    const int64_t e = sizeof(T);                                                \
    if (s[0] == e && s[1] == e && s[2] == e) {                                  \
      T *gi = (T *)p[0];                                                        \
      const T *x = (const T *)p[1], *g = (const T *)p[2];                       \
      for (int64_t i = 0; i < n; i++) gi[i] = g[i] * DF(x[i]);                  \
    } else {                                                                    \
      for (int64_t i = 0; i < n; i++)                                           \
        *(T *)(p[0] + i * s[0]) = *(const T *)(p[2] + i * s[2]) * DF(*(const T *)(p[1] + i * s[1])); \
    }                                                                           \
  }

FORWARD_LOOP(relu_fwd_f32, float, oml_relu_f)
FORWARD_LOOP(relu_fwd_f64, double, oml_relu_d)
FORWARD_LOOP(gelu_fwd_f32, float, oml_gelu_f)
FORWARD_LOOP(gelu_fwd_f64, double, oml_gelu_d)
FORWARD_LOOP(gelu_tanh_fwd_f32, float, oml_gelu_tanh_f)
FORWARD_LOOP(gelu_tanh_fwd_f64, double, oml_gelu_tanh_d)
BACKWARD_LOOP(relu_bwd_f32, float, oml_relu_grad_f)
BACKWARD_LOOP(relu_bwd_f64, double, oml_relu_grad_d)
BACKWARD_LOOP(gelu_bwd_f32, float, oml_gelu_grad_f)
BACKWARD_LOOP(gelu_bwd_f64, double, oml_gelu_grad_d)
BACKWARD_LOOP(gelu_tanh_bwd_f32, float, oml_gelu_tanh_grad_f)
BACKWARD_LOOP(gelu_tanh_bwd_f64, double, oml_gelu_tanh_grad_d)

/* indexed by [kind][dtype is float64] */
static const oml_loop_fn forward_loops[OML_NUM_ACTIVATIONS][2] = {
    [OML_RELU] = {relu_fwd_f32, relu_fwd_f64},
    [OML_GELU] = {gelu_fwd_f32, gelu_fwd_f64},
    [OML_GELU_TANH] = {gelu_tanh_fwd_f32, gelu_tanh_fwd_f64},
};
static const oml_loop_fn backward_loops[OML_NUM_ACTIVATIONS][2] = {
    [OML_RELU] = {relu_bwd_f32, relu_bwd_f64},
    [OML_GELU] = {gelu_bwd_f32, gelu_bwd_f64},
    [OML_GELU_TANH] = {gelu_tanh_bwd_f32, gelu_tanh_bwd_f64},
};

void oml_cpu_activation_forward(const oml_tensor *input, oml_tensor *out, int32_t kind) {
  const oml_tensor *ops[2] = {out, input};
  oml_foreach(2, ops, forward_loops[kind][input->dtype_ == OML_FLOAT64], NULL);
}

void oml_cpu_activation_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                                 int32_t kind) {
  const oml_tensor *ops[3] = {grad_input, input, grad_out};
  oml_foreach(3, ops, backward_loops[kind][input->dtype_ == OML_FLOAT64], NULL);
}

/* ---- softmax -------------------------------------------------------------- */


/* One line of n elements with strides sx, so, sg. Each line function is
 * inlined twice: with unit strides (the loops vectorise) and as given.
 * Softmax subtracts the line's maximum first; a NaN anywhere in the line
 * makes the whole line NaN, as in PyTorch. */
#define SOFTMAX_LINES(SUFFIX, T, EXP, LOG)                                                              \
  static inline __attribute__((always_inline)) void softmax_line_##SUFFIX(                              \
      const T *x, int64_t sx, T *o, int64_t so, int64_t n, int32_t log_) {                              \
    T m = -INFINITY;                                                                                    \
    _Pragma("omp simd reduction(max:m)")                                                                \
    for (int64_t j = 0; j < n; j++) m = x[j * sx] > m ? x[j * sx] : m;                                  \
    T sum = 0;                                                                                          \
    if (log_) {                                                                                         \
      _Pragma("omp simd reduction(+:sum)")                                                              \
      for (int64_t j = 0; j < n; j++) sum += EXP(x[j * sx] - m);                                        \
      T lse = LOG(sum);                                                                                 \
      for (int64_t j = 0; j < n; j++) o[j * so] = (x[j * sx] - m) - lse;                                \
    } else {                                                                                            \
      _Pragma("omp simd reduction(+:sum)")                                                              \
      for (int64_t j = 0; j < n; j++) {                                                                 \
        T e = EXP(x[j * sx] - m);                                                                       \
        o[j * so] = e;                                                                                  \
        sum += e;                                                                                       \
      }                                                                                                 \
      T inv = (T)1 / sum;                                                                               \
      for (int64_t j = 0; j < n; j++) o[j * so] *= inv;                                                 \
    }                                                                                                   \
  }                                                                                                     \
  /* softmax: gi = y (g - sum(g y)); log-softmax: gi = g - e^y sum(g) */                               \
  static inline __attribute__((always_inline)) void softmax_grad_line_##SUFFIX(                         \
      const T *y, int64_t sy, const T *g, int64_t sg, T *gi, int64_t si, int64_t n, int32_t log_) {     \
    T dot = 0;                                                                                          \
    if (log_) {                                                                                         \
      _Pragma("omp simd reduction(+:dot)")                                                              \
      for (int64_t j = 0; j < n; j++) dot += g[j * sg];                                                 \
      for (int64_t j = 0; j < n; j++) gi[j * si] = g[j * sg] - EXP(y[j * sy]) * dot;                    \
    } else {                                                                                            \
      _Pragma("omp simd reduction(+:dot)")                                                              \
      for (int64_t j = 0; j < n; j++) dot += g[j * sg] * y[j * sy];                                     \
      for (int64_t j = 0; j < n; j++) gi[j * si] = y[j * sy] * (g[j * sg] - dot);                       \
    }                                                                                                   \
  }                                                                                                     \
  static void softmax_forward_##SUFFIX(const oml_tensor *in, oml_tensor *out, int32_t dim, int32_t log_) { \
    int64_t n = in->ndim_ ? in->size_[dim] : 1;                                                         \
    int64_t sx = in->ndim_ ? in->stride_[dim] : 0, so = out->ndim_ ? out->stride_[dim] : 0;             \
    int64_t lines = n ? in->numel_ / n : 0;                                                             \
    _Pragma("omp parallel for if (oml_parallel_ok(in->numel_)) schedule(static)")                       \
    for (int64_t i = 0; i < lines; i++) {                                                               \
      const T *x = (const T *)in->data_ + oml_line_offset(in, dim, i);                                      \
      T *o = (T *)out->data_ + oml_line_offset(out, dim, i);                                                \
      if (sx == 1 && so == 1) softmax_line_##SUFFIX(x, 1, o, 1, n, log_);                               \
      else softmax_line_##SUFFIX(x, sx, o, so, n, log_);                                                \
    }                                                                                                   \
  }                                                                                                     \
  static void softmax_backward_##SUFFIX(const oml_tensor *y, const oml_tensor *g, oml_tensor *gi,       \
                                        int32_t dim, int32_t log_) {                                    \
    int64_t n = y->ndim_ ? y->size_[dim] : 1;                                                           \
    int64_t sy = y->ndim_ ? y->stride_[dim] : 0, sg = g->ndim_ ? g->stride_[dim] : 0;                   \
    int64_t si = gi->ndim_ ? gi->stride_[dim] : 0;                                                      \
    int64_t lines = n ? y->numel_ / n : 0;                                                              \
    _Pragma("omp parallel for if (oml_parallel_ok(y->numel_)) schedule(static)")                        \
    for (int64_t i = 0; i < lines; i++) {                                                               \
      const T *yl = (const T *)y->data_ + oml_line_offset(y, dim, i);                                       \
      const T *gl = (const T *)g->data_ + oml_line_offset(g, dim, i);                                       \
      T *gil = (T *)gi->data_ + oml_line_offset(gi, dim, i);                                                \
      if (sy == 1 && sg == 1 && si == 1) softmax_grad_line_##SUFFIX(yl, 1, gl, 1, gil, 1, n, log_);     \
      else softmax_grad_line_##SUFFIX(yl, sy, gl, sg, gil, si, n, log_);                                \
    }                                                                                                   \
  }

SOFTMAX_LINES(f32, float, oml_expf, logf)
SOFTMAX_LINES(f64, double, exp, log)

void oml_cpu_softmax_forward(const oml_tensor *input, oml_tensor *out, int32_t dim, int32_t log) {
  if (input->dtype_ == OML_FLOAT32) softmax_forward_f32(input, out, dim, log);
  else softmax_forward_f64(input, out, dim, log);
}

void oml_cpu_softmax_backward(const oml_tensor *output, const oml_tensor *grad_out, oml_tensor *grad_input,
                              int32_t dim, int32_t log) {
  if (output->dtype_ == OML_FLOAT32) softmax_backward_f32(output, grad_out, grad_input, dim, log);
  else softmax_backward_f64(output, grad_out, grad_input, dim, log);
}
