/* cpu/interpolate.c — bicubic interpolation as PyTorch's upsample_bicubic2d:
 * each output element is a 4x4 weighted sum of clamped input taps, the
 * weights of each output row and column computed once. Forward spreads
 * output rows over threads; backward scatters into the input, so it spreads
 * whole planes (no two threads write one element). */
#include "interpolate.h"
#include "../core/cubic_math.h"

#include <stdlib.h>

/* For each of n_out output indices along one axis: the four taps' input
 * offsets (clamped index times stride) and weights. */
#define TAPS(SUFFIX, T)                                                                                    \
  static void taps_##SUFFIX(int64_t n_in, int64_t n_out, int64_t stride, int32_t align_corners,            \
                            double scale_factor, int64_t *offset, T *weight) {                             \
    T scale = oml_cubic_scale_##SUFFIX(n_in, n_out, align_corners, scale_factor);                          \
    for (int64_t i = 0; i < n_out; i++) {                                                                  \
      T t;                                                                                                 \
      int64_t i0 = oml_cubic_floor_##SUFFIX(scale, i, align_corners, n_in, &t);                            \
      oml_cubic_weights_##SUFFIX(t, weight + 4 * i);                                                       \
      for (int k = 0; k < 4; k++) offset[4 * i + k] = oml_cubic_clamp(i0 - 1 + k, n_in) * stride;          \
    }                                                                                                      \
  }

#define BICUBIC(SUFFIX, T)                                                                                 \
  TAPS(SUFFIX, T)                                                                                          \
  static void forward_##SUFFIX(const oml_tensor *in, oml_tensor *out, const int64_t *oy_, const T *wy,     \
                               const int64_t *ox_, const T *wx) {                                          \
    int64_t channels = in->size_[1], oh = out->size_[2], ow = out->size_[3];                               \
    int64_t rows = in->size_[0] * channels * oh;                                                           \
    _Pragma("omp parallel for if (oml_parallel_ok(16 * out->numel_)) schedule(static)")                    \
    for (int64_t r = 0; r < rows; r++) {                                                                   \
      int64_t y = r % oh, plane = r / oh, n = plane / channels, c = plane % channels;                      \
      const T *x = (const T *)in->data_ + n * in->stride_[0] + c * in->stride_[1];                         \
      T *o = (T *)out->data_ + n * out->stride_[0] + c * out->stride_[1] + y * out->stride_[2];            \
      const int64_t *iy = oy_ + 4 * y;                                                                     \
      for (int64_t j = 0; j < ow; j++) {                                                                   \
        const int64_t *ix = ox_ + 4 * j;                                                                   \
        const T *w = wx + 4 * j;                                                                           \
        T acc = 0;                                                                                         \
        for (int a = 0; a < 4; a++) {                                                                      \
          const T *row = x + iy[a];                                                                        \
          T v = row[ix[0]] * w[0];                                                                         \
          v += row[ix[1]] * w[1];                                                                          \
          v += row[ix[2]] * w[2];                                                                          \
          v += row[ix[3]] * w[3];                                                                          \
          acc += v * wy[4 * y + a];                                                                        \
        }                                                                                                  \
        o[j * out->stride_[3]] = acc;                                                                      \
      }                                                                                                    \
    }                                                                                                      \
  }                                                                                                        \
  static void backward_##SUFFIX(const oml_tensor *go, oml_tensor *gi, const int64_t *oy_, const T *wy,     \
                                const int64_t *ox_, const T *wx) {                                         \
    int64_t channels = gi->size_[1], h = gi->size_[2], w = gi->size_[3];                                   \
    int64_t oh = go->size_[2], ow = go->size_[3], planes = gi->size_[0] * channels;                        \
    _Pragma("omp parallel for if (oml_parallel_ok(16 * go->numel_)) schedule(static)")                     \
    for (int64_t plane = 0; plane < planes; plane++) {                                                     \
      int64_t n = plane / channels, c = plane % channels;                                                  \
      const T *g = (const T *)go->data_ + n * go->stride_[0] + c * go->stride_[1];                         \
      T *x = (T *)gi->data_ + n * gi->stride_[0] + c * gi->stride_[1];                                     \
      for (int64_t i = 0; i < h; i++)                                                                      \
        for (int64_t j = 0; j < w; j++) x[i * gi->stride_[2] + j * gi->stride_[3]] = 0;                    \
      for (int64_t y = 0; y < oh; y++) {                                                                   \
        const int64_t *iy = oy_ + 4 * y;                                                                   \
        for (int64_t j = 0; j < ow; j++) {                                                                 \
          const int64_t *ix = ox_ + 4 * j;                                                                 \
          T v = g[y * go->stride_[2] + j * go->stride_[3]];                                                \
          for (int a = 0; a < 4; a++) {                                                                    \
            T vy = v * wy[4 * y + a];                                                                      \
            T *row = x + iy[a];                                                                            \
            for (int b = 0; b < 4; b++) row[ix[b]] += vy * wx[4 * j + b];                                  \
          }                                                                                                \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }

BICUBIC(f, float)
BICUBIC(d, double)

/* Tap tables for in [.., h, w] (strides sh, sw) and out [.., oh, ow], then
 * the kernel: forward (from in to out) or backward (from out to in). */
static int run(const oml_tensor *from, oml_tensor *to, int backward, int32_t align_corners, double scale_h,
               double scale_w) {
  const oml_tensor *in = backward ? to : from, *out = backward ? from : to;
  int64_t h = in->size_[2], w = in->size_[3], oh = out->size_[2], ow = out->size_[3];
  size_t el = (size_t)oml_dtype_size(in->dtype_);
  int64_t *oy = malloc(4 * (size_t)oh * sizeof *oy), *ox = malloc(4 * (size_t)ow * sizeof *ox);
  void *wy = malloc(4 * (size_t)oh * el), *wx = malloc(4 * (size_t)ow * el);
  int rc = 0;
  if (!oy || !ox || !wy || !wx) {
    rc = oml_error("out of memory for the interpolation weights");
  } else if (in->dtype_ == OML_FLOAT32) {
    taps_f(h, oh, in->stride_[2], align_corners, scale_h, oy, wy);
    taps_f(w, ow, in->stride_[3], align_corners, scale_w, ox, wx);
    if (backward) backward_f(from, to, oy, wy, ox, wx);
    else forward_f(from, to, oy, wy, ox, wx);
  } else {
    taps_d(h, oh, in->stride_[2], align_corners, scale_h, oy, wy);
    taps_d(w, ow, in->stride_[3], align_corners, scale_w, ox, wx);
    if (backward) backward_d(from, to, oy, wy, ox, wx);
    else forward_d(from, to, oy, wy, ox, wx);
  }
  free(oy);
  free(ox);
  free(wy);
  free(wx);
  return rc;
}

int oml_cpu_interpolate_bicubic_forward(const oml_tensor *input, oml_tensor *out, int32_t align_corners,
                                        double scale_h, double scale_w) {
  return run(input, out, 0, align_corners, scale_h, scale_w);
}

int oml_cpu_interpolate_bicubic_backward(const oml_tensor *grad_out, oml_tensor *grad_input, int32_t align_corners,
                                         double scale_h, double scale_w) {
  return run(grad_out, grad_input, 1, align_corners, scale_h, scale_w);
}
