/* cuda/interpolate.cu — bicubic interpolation as cpu/interpolate.c, one
 * thread per output element, the taps and weights from cubic_math.h
 * computed per element in the CPU's order. Backward scatters each output's
 * 16 shares into the input with atomicAdd (taps clamp at the border, so
 * several shares can land on one element). */
#include "interpolate.h"
#include "cuda_common.cuh"

#include "../core/cubic_math.h"

/* The per-dtype names of cubic_math.h */
struct cubic_f {
  using T = float;
  __device__ static float scale(int64_t in, int64_t out, int32_t ac, double sf) {
    return oml_cubic_scale_f(in, out, ac, sf);
  }
  __device__ static int64_t floor(float scale, int64_t i, int32_t ac, int64_t n, float *t) {
    return oml_cubic_floor_f(scale, i, ac, n, t);
  }
  __device__ static void weights(float t, float w[4]) { oml_cubic_weights_f(t, w); }
};
struct cubic_d {
  using T = double;
  __device__ static double scale(int64_t in, int64_t out, int32_t ac, double sf) {
    return oml_cubic_scale_d(in, out, ac, sf);
  }
  __device__ static int64_t floor(double scale, int64_t i, int32_t ac, int64_t n, double *t) {
    return oml_cubic_floor_d(scale, i, ac, n, t);
  }
  __device__ static void weights(double t, double w[4]) { oml_cubic_weights_d(t, w); }
};

/* The geometry of one call: the input (or grad_input) plane [h, w] and the
 * output plane [oh, ow], with both tensors' strides. */
struct bicubic_shape {
  int64_t channels, h, w, oh, ow;
  int64_t in_stride[4], out_stride[4];
  int32_t align_corners;
  double scale_h, scale_w;
};

/* Output element i's taps along both axes: input offsets and weights. */
template <typename M>
__device__ static inline void taps(const bicubic_shape &s, int64_t y, int64_t x, int64_t oy[4], int64_t ox[4],
                                   typename M::T wy[4], typename M::T wx[4]) {
  typename M::T ty, tx;
  int64_t y0 = M::floor(M::scale(s.h, s.oh, s.align_corners, s.scale_h), y, s.align_corners, s.h, &ty);
  int64_t x0 = M::floor(M::scale(s.w, s.ow, s.align_corners, s.scale_w), x, s.align_corners, s.w, &tx);
  M::weights(ty, wy);
  M::weights(tx, wx);
  for (int k = 0; k < 4; k++) {
    oy[k] = oml_cubic_clamp(y0 - 1 + k, s.h) * s.in_stride[2];
    ox[k] = oml_cubic_clamp(x0 - 1 + k, s.w) * s.in_stride[3];
  }
}

template <typename M>
__global__ void forward_kernel(const typename M::T *in, typename M::T *out, bicubic_shape s, int64_t n) {
  using T = typename M::T;
  OML_CUDA_LOOP(i, n) {
    int64_t x = i % s.ow, y = (i / s.ow) % s.oh, plane = i / (s.ow * s.oh);
    int64_t b = plane / s.channels, c = plane % s.channels;
    int64_t oy[4], ox[4];
    T wy[4], wx[4];
    taps<M>(s, y, x, oy, ox, wy, wx);
    const T *p = in + b * s.in_stride[0] + c * s.in_stride[1];
    T acc = 0;
    for (int a = 0; a < 4; a++) {
      const T *row = p + oy[a];
      T v = row[ox[0]] * wx[0];
      v += row[ox[1]] * wx[1];
      v += row[ox[2]] * wx[2];
      v += row[ox[3]] * wx[3];
      acc += v * wy[a];
    }
    out[b * s.out_stride[0] + c * s.out_stride[1] + y * s.out_stride[2] + x * s.out_stride[3]] = acc;
  }
}

template <typename M>
__global__ void backward_kernel(const typename M::T *go, typename M::T *gi, bicubic_shape s, int64_t n) {
  using T = typename M::T;
  OML_CUDA_LOOP(i, n) {
    int64_t x = i % s.ow, y = (i / s.ow) % s.oh, plane = i / (s.ow * s.oh);
    int64_t b = plane / s.channels, c = plane % s.channels;
    int64_t oy[4], ox[4];
    T wy[4], wx[4];
    taps<M>(s, y, x, oy, ox, wy, wx);
    T v = go[b * s.out_stride[0] + c * s.out_stride[1] + y * s.out_stride[2] + x * s.out_stride[3]];
    T *p = gi + b * s.in_stride[0] + c * s.in_stride[1];
    for (int a = 0; a < 4; a++) {
      T vy = v * wy[a];
      for (int k = 0; k < 4; k++) atomicAdd(p + oy[a] + ox[k], vy * wx[k]);
    }
  }
}

/* in is the input (forward) or grad_input (backward), out the output or grad_output */
static bicubic_shape shape_of(const oml_tensor *in, const oml_tensor *out, int32_t align_corners, double scale_h,
                              double scale_w) {
  bicubic_shape s;
  s.channels = in->size_[1];
  s.h = in->size_[2];
  s.w = in->size_[3];
  s.oh = out->size_[2];
  s.ow = out->size_[3];
  for (int d = 0; d < 4; d++) {
    s.in_stride[d] = in->stride_[d];
    s.out_stride[d] = out->stride_[d];
  }
  s.align_corners = align_corners;
  s.scale_h = scale_h;
  s.scale_w = scale_w;
  return s;
}

extern "C" int oml_cuda_interpolate_bicubic_forward(const oml_tensor *input, oml_tensor *out, int32_t align_corners,
                                                    double scale_h, double scale_w) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  bicubic_shape s = shape_of(input, out, align_corners, scale_h, scale_w);
  unsigned blocks = oml_cuda_blocks(out->numel_);
  if (input->dtype_ == OML_FLOAT32)
    forward_kernel<cubic_f><<<blocks, OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const float *)input->data_, (float *)out->data_, s, out->numel_);
  else
    forward_kernel<cubic_d><<<blocks, OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const double *)input->data_, (double *)out->data_, s, out->numel_);
  return oml_cuda_launched("the bicubic interpolation kernel");
}

extern "C" int oml_cuda_interpolate_bicubic_backward(const oml_tensor *grad_out, oml_tensor *grad_input,
                                                     int32_t align_corners, double scale_h, double scale_w) {
  if (grad_input->numel_ == 0) return 0;
  if (oml_cuda_use(grad_input->device_)) return -1;
  bicubic_shape s = shape_of(grad_input, grad_out, align_corners, scale_h, scale_w);
  unsigned blocks = oml_cuda_blocks(grad_out->numel_);
  if (grad_out->dtype_ == OML_FLOAT32) {
    if (oml_cuda_map0<float>(grad_input, [] __device__(int64_t) { return 0.0f; })) return -1;
    if (grad_out->numel_ == 0) return 0;
    backward_kernel<cubic_f><<<blocks, OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const float *)grad_out->data_, (float *)grad_input->data_, s, grad_out->numel_);
  } else {
    if (oml_cuda_map0<double>(grad_input, [] __device__(int64_t) { return 0.0; })) return -1;
    if (grad_out->numel_ == 0) return 0;
    backward_kernel<cubic_d><<<blocks, OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const double *)grad_out->data_, (double *)grad_input->data_, s, grad_out->numel_);
  }
  return oml_cuda_launched("the bicubic interpolation kernel");
}
