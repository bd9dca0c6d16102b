/* cpu/pool.c — pooling kernels, one plane per iteration (planes spread over
 * OpenMP threads; a plane's sums never are, so results do not depend on the
 * thread count). Window bounds follow PyTorch's CPU kernels exactly;
 * window sums run in float64. */
#include "pool.h"

#include <math.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- max ------------------------------------------------------------------- */

/* oml_pool_max_wins picks the maximum: NaN wins, ties keep the first */
#define MAX_POOL_FORWARD(NAME, T)                                                                 \
  static void NAME(const T *x, T *out, int64_t *indices, const oml_pool2d *p) {                   \
    const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;                     \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * oh_n * ow_n * p->kh * p->kw)) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      const T *in = x + pl * H * W;                                                               \
      T *o = out + pl * oh_n * ow_n;                                                              \
      int64_t *ix = indices ? indices + pl * oh_n * ow_n : NULL;                                  \
      for (int64_t oh = 0; oh < oh_n; oh++) {                                                     \
        int64_t h0, h1;                                                                           \
        oml_pool_max_window(oh, p->sh, p->ph, p->kh, p->dh, H, &h0, &h1);                         \
        for (int64_t ow = 0; ow < ow_n; ow++) {                                                   \
          int64_t w0, w1;                                                                         \
          oml_pool_max_window(ow, p->sw, p->pw, p->kw, p->dw, W, &w0, &w1);                       \
          /* a window that holds no input element keeps -inf and a valid index */                 \
          int64_t best_i = oml_pool_max_empty_index(h0, w0, H, W);                                 \
          T best = -INFINITY;                                                                     \
          for (int64_t ih = h0; ih < h1; ih += p->dh)                                             \
            for (int64_t iw = w0; iw < w1; iw += p->dw) {                                         \
              T v = in[ih * W + iw];                                                              \
              if (oml_pool_max_wins(v, best)) {                                                   \
                best = v;                                                                         \
                best_i = ih * W + iw;                                                             \
              }                                                                                   \
            }                                                                                     \
          o[oh * ow_n + ow] = best;                                                               \
          if (ix) ix[oh * ow_n + ow] = best_i + 1;                                                \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

/* Outputs per chunk of max_forward_w3s2_f32 (its scratch lives on the stack). */
#define ROW_RUN 64

/* float32 max pooling with windows 3 wide, stride 2, padding 1 along the
 * rows (ResNet's stem): a chunk of a row of outputs at a time, each input
 * row copied with -inf past its edges, so that the loop over outputs has
 * no bounds to check and vectorises. Padding never wins (-inf > best is
 * false), and each window is read in the general loop's order, so values
 * and indices are the same. Indices are tracked in int32 (planes below 2^31). */
static void max_forward_w3s2_f32(const float *x, float *out, int64_t *indices, const oml_pool2d *p) {
  const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;
#pragma omp parallel for if (oml_parallel_ok(p->planes * oh_n * ow_n * p->kh * 3)) schedule(static)
  for (int64_t pl = 0; pl < p->planes; pl++) {
    const float *in = x + pl * H * W;
    float *o = out + pl * oh_n * ow_n;
    int64_t *ix = indices ? indices + pl * oh_n * ow_n : NULL;
    float row[2 * ROW_RUN + 1], best[ROW_RUN];
    int32_t at[ROW_RUN];
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t h0, h1;
      oml_pool_max_window(oh, p->sh, p->ph, p->kh, p->dh, H, &h0, &h1);
      for (int64_t ow0 = 0; ow0 < ow_n; ow0 += ROW_RUN) {
        int64_t count = min64(ROW_RUN, ow_n - ow0), x0 = 2 * ow0 - 1, width = 2 * count + 1;
        /* a window that holds no input element keeps -inf and a valid index */
        for (int64_t k = 0; k < count; k++) {
          best[k] = -INFINITY;
          at[k] = (int32_t)(min64(h0, H - 1) * W + min64(max64(x0 + 2 * k, 0), W - 1));
        }
        int64_t lo = min64(max64(-x0, 0), width), hi = max64(min64(W - x0, width), lo);
        for (int64_t ih = h0; ih < h1; ih += p->dh) {
          for (int64_t c = 0; c < lo; c++) row[c] = -INFINITY;
          for (int64_t c = lo; c < hi; c++) row[c] = in[ih * W + x0 + c];
          for (int64_t c = hi; c < width; c++) row[c] = -INFINITY;
          for (int s = 0; s < 3; s++) {
            int32_t first = (int32_t)(ih * W + x0 + s);
            for (int64_t k = 0; k < count; k++) {
              float v = row[2 * k + s];
              int wins = v > best[k] || isnan(v);
              best[k] = wins ? v : best[k];
              at[k] = wins ? first + 2 * (int32_t)k : at[k];
            }
          }
        }
        for (int64_t k = 0; k < count; k++) o[oh * ow_n + ow0 + k] = best[k];
        if (ix)
          for (int64_t k = 0; k < count; k++) ix[oh * ow_n + ow0 + k] = (int64_t)at[k] + 1;
      }
    }
  }
}

#define MAX_POOL_BACKWARD(NAME, T)                                                                \
  static void NAME(const T *go, const int64_t *indices, T *gi, const oml_pool2d *p) {             \
    const int64_t in_n = p->in_h * p->in_w, out_n = p->out_h * p->out_w;                          \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * (in_n + out_n))) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      T *g = gi + pl * in_n;                                                                      \
      for (int64_t i = 0; i < in_n; i++) g[i] = 0;                                                \
      for (int64_t i = 0; i < out_n; i++) g[indices[pl * out_n + i] - 1] += go[pl * out_n + i];   \
    }                                                                                             \
  }

/* ---- average --------------------------------------------------------------- */

/* WINDOW is oml_pool_avg_window or oml_pool_adaptive_windows: both give the bounds and the divisor */
#define AVG_FORWARD(NAME, T, WINDOW)                                                              \
  static void NAME(const T *x, T *out, const oml_pool2d *p) {                                     \
    const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;                     \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * (H * W + oh_n * ow_n))) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      const T *in = x + pl * H * W;                                                               \
      T *o = out + pl * oh_n * ow_n;                                                              \
      for (int64_t oh = 0; oh < oh_n; oh++)                                                       \
        for (int64_t ow = 0; ow < ow_n; ow++) {                                                   \
          int64_t h0, h1, w0, w1, div = WINDOW(p, oh, ow, &h0, &h1, &w0, &w1);                    \
          double sum = 0;                                                                         \
          for (int64_t ih = h0; ih < h1; ih++) {                                                  \
            const T *row = in + ih * W;                                                           \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t iw = w0; iw < w1; iw++) sum += row[iw]; \
          }                                                                                       \
          o[oh * ow_n + ow] = (T)(div ? sum / (double)div : 0);                                   \
        }                                                                                         \
    }                                                                                             \
  }

#define AVG_BACKWARD(NAME, T, WINDOW)                                                             \
  static void NAME(const T *go, T *gi, const oml_pool2d *p) {                                     \
    const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;                     \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * (H * W + oh_n * ow_n))) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      T *g = gi + pl * H * W;                                                                     \
      const T *o = go + pl * oh_n * ow_n;                                                         \
      for (int64_t i = 0; i < H * W; i++) g[i] = 0;                                               \
      for (int64_t oh = 0; oh < oh_n; oh++)                                                       \
        for (int64_t ow = 0; ow < ow_n; ow++) {                                                   \
          int64_t h0, h1, w0, w1, div = WINDOW(p, oh, ow, &h0, &h1, &w0, &w1);                    \
          if (div == 0) continue;                                                                 \
          const T share = (T)(o[oh * ow_n + ow] / (double)div);                                   \
          for (int64_t ih = h0; ih < h1; ih++)                                                    \
            for (int64_t iw = w0; iw < w1; iw++) g[ih * W + iw] += share;                         \
        }                                                                                         \
    }                                                                                             \
  }

MAX_POOL_FORWARD(max_forward_f32, float)
MAX_POOL_FORWARD(max_forward_f64, double)
MAX_POOL_BACKWARD(max_backward_f32, float)
MAX_POOL_BACKWARD(max_backward_f64, double)
AVG_FORWARD(avg_forward_f32, float, oml_pool_avg_window)
AVG_FORWARD(avg_forward_f64, double, oml_pool_avg_window)
AVG_BACKWARD(avg_backward_f32, float, oml_pool_avg_window)
AVG_BACKWARD(avg_backward_f64, double, oml_pool_avg_window)
AVG_FORWARD(adaptive_forward_f32, float, oml_pool_adaptive_windows)
AVG_FORWARD(adaptive_forward_f64, double, oml_pool_adaptive_windows)
AVG_BACKWARD(adaptive_backward_f32, float, oml_pool_adaptive_windows)
AVG_BACKWARD(adaptive_backward_f64, double, oml_pool_adaptive_windows)

static int64_t *index_data(const oml_tensor *t) { return t ? (int64_t *)t->data_ : NULL; }

void oml_cpu_max_pool2d_forward(const oml_tensor *x, oml_tensor *out, oml_tensor *indices, const oml_pool2d *p) {
  int w3s2 = p->kw == 3 && p->sw == 2 && p->pw == 1 && p->dw == 1 && p->in_h * p->in_w < INT32_MAX;
  if (x->dtype_ == OML_FLOAT32 && w3s2)
    max_forward_w3s2_f32((const float *)x->data_, (float *)out->data_, index_data(indices), p);
  else if (x->dtype_ == OML_FLOAT32)
    max_forward_f32((const float *)x->data_, (float *)out->data_, index_data(indices), p);
  else max_forward_f64((const double *)x->data_, (double *)out->data_, index_data(indices), p);
}

void oml_cpu_max_pool2d_backward(const oml_tensor *grad_out, const oml_tensor *indices, oml_tensor *grad_input,
                                 const oml_pool2d *p) {
  if (grad_out->dtype_ == OML_FLOAT32)
    max_backward_f32((const float *)grad_out->data_, index_data(indices), (float *)grad_input->data_, p);
  else max_backward_f64((const double *)grad_out->data_, index_data(indices), (double *)grad_input->data_, p);
}

void oml_cpu_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  if (x->dtype_ == OML_FLOAT32) avg_forward_f32((const float *)x->data_, (float *)out->data_, p);
  else avg_forward_f64((const double *)x->data_, (double *)out->data_, p);
}

void oml_cpu_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p) {
  if (grad_out->dtype_ == OML_FLOAT32) avg_backward_f32((const float *)grad_out->data_, (float *)grad_input->data_, p);
  else avg_backward_f64((const double *)grad_out->data_, (double *)grad_input->data_, p);
}

void oml_cpu_adaptive_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  if (x->dtype_ == OML_FLOAT32) adaptive_forward_f32((const float *)x->data_, (float *)out->data_, p);
  else adaptive_forward_f64((const double *)x->data_, (double *)out->data_, p);
}

void oml_cpu_adaptive_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p) {
  if (grad_out->dtype_ == OML_FLOAT32)
    adaptive_backward_f32((const float *)grad_out->data_, (float *)grad_input->data_, p);
  else adaptive_backward_f64((const double *)grad_out->data_, (double *)grad_input->data_, p);
}
