/* cuda/pool.cu — pooling kernels: one thread per output element forward
 * (window math from pool_math.h, sums in float64 as on the CPU). Average
 * backward gathers, per input element, the shares of the windows that hold
 * it, in the CPU's order (rows, then columns), so it matches the CPU's
 * scatter exactly; max backward scatters through the indices with
 * atomicAdd, since windows may overlap. */
#include "pool.h"
#include "cuda_common.cuh"

/* ---- max ------------------------------------------------------------------- */

template <typename T>
__global__ void max_forward_kernel(const T *x, T *out, int64_t *indices, oml_pool2d p) {
  const int64_t H = p.in_h, W = p.in_w, plane_out = p.out_h * p.out_w;
  OML_CUDA_LOOP(i, p.planes * plane_out) {
    int64_t pl = i / plane_out, oh = (i % plane_out) / p.out_w, ow = i % p.out_w;
    const T *in = x + pl * H * W;
    int64_t h0, h1, w0, w1;
    oml_pool_max_window(oh, p.sh, p.ph, p.kh, p.dh, H, &h0, &h1);
    oml_pool_max_window(ow, p.sw, p.pw, p.kw, p.dw, W, &w0, &w1);
    int64_t best_i = oml_pool_max_empty_index(h0, w0, H, W);
    T best = -INFINITY;
    for (int64_t ih = h0; ih < h1; ih += p.dh)
      for (int64_t iw = w0; iw < w1; iw += p.dw) {
        T v = in[ih * W + iw];
        if (oml_pool_max_wins(v, best)) {
          best = v;
          best_i = ih * W + iw;
        }
      }
    out[i] = best;
    if (indices) indices[i] = best_i + 1;
  }
}

template <typename T>
__global__ void max_backward_kernel(const T *go, const int64_t *indices, T *gi, oml_pool2d p) {
  const int64_t plane_in = p.in_h * p.in_w, plane_out = p.out_h * p.out_w;
  OML_CUDA_LOOP(i, p.planes * plane_out) {
    int64_t at = indices[i];
    if (at >= 1 && at <= plane_in) atomicAdd(gi + (i / plane_out) * plane_in + at - 1, go[i]);
  }
}

/* ---- average --------------------------------------------------------------- */

/* ADAPTIVE picks oml_pool_adaptive_windows over oml_pool_avg_window */
template <bool ADAPTIVE>
__device__ static inline int64_t window(const oml_pool2d &p, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1,
                                        int64_t *w0, int64_t *w1) {
  return ADAPTIVE ? oml_pool_adaptive_windows(&p, oh, ow, h0, h1, w0, w1)
                  : oml_pool_avg_window(&p, oh, ow, h0, h1, w0, w1);
}

template <typename T, bool ADAPTIVE>
__global__ void avg_forward_kernel(const T *x, T *out, oml_pool2d p) {
  const int64_t H = p.in_h, W = p.in_w, plane_out = p.out_h * p.out_w;
  OML_CUDA_LOOP(i, p.planes * plane_out) {
    int64_t pl = i / plane_out, oh = (i % plane_out) / p.out_w, ow = i % p.out_w;
    const T *in = x + pl * H * W;
    int64_t h0, h1, w0, w1, div = window<ADAPTIVE>(p, oh, ow, &h0, &h1, &w0, &w1);
    double sum = 0;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) sum += in[ih * W + iw];
    out[i] = (T)(div ? sum / (double)div : 0);
  }
}

/* The outputs along one axis whose windows may hold input index i: a
 * superset, each then checked against its window. */
template <bool ADAPTIVE>
__device__ static inline void candidates(int64_t i, int64_t n_in, int64_t n_out, int64_t stride, int64_t pad,
                                         int64_t k, int64_t *lo, int64_t *hi) {
  if (ADAPTIVE) { /* start(o) <= i < end(o) for o in [floor(i*m/n), ceil((i+1)*m/n)) */
    *lo = i * n_out / n_in;
    *hi = ((i + 1) * n_out + n_in - 1) / n_in;
  } else { /* o*stride - pad <= i < o*stride - pad + k */
    int64_t first = i + pad - k + 1;
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = (i + pad) / stride + 1;
  }
  *lo = oml_pool_max(*lo, 0);
  *hi = oml_pool_min(*hi, n_out);
}

template <typename T, bool ADAPTIVE>
__global__ void avg_backward_kernel(const T *go, T *gi, oml_pool2d p) {
  const int64_t H = p.in_h, W = p.in_w, plane_in = H * W, plane_out = p.out_h * p.out_w;
  OML_CUDA_LOOP(i, p.planes * plane_in) {
    int64_t pl = i / plane_in, ih = (i % plane_in) / W, iw = i % W;
    const T *o = go + pl * plane_out;
    int64_t oh0, oh1, ow0, ow1;
    candidates<ADAPTIVE>(ih, H, p.out_h, p.sh, p.ph, p.kh, &oh0, &oh1);
    candidates<ADAPTIVE>(iw, W, p.out_w, p.sw, p.pw, p.kw, &ow0, &ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh < oh1; oh++)
      for (int64_t ow = ow0; ow < ow1; ow++) {
        int64_t h0, h1, w0, w1, div = window<ADAPTIVE>(p, oh, ow, &h0, &h1, &w0, &w1);
        if (div != 0 && h0 <= ih && ih < h1 && w0 <= iw && iw < w1) acc += (T)(o[oh * p.out_w + ow] / (double)div);
      }
    gi[i] = acc;
  }
}

/* ---- entry points ---------------------------------------------------------- */

extern "C" int oml_cuda_max_pool2d_forward(const oml_tensor *x, oml_tensor *out, oml_tensor *indices,
                                           const oml_pool2d *p) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  int64_t *ix = indices ? (int64_t *)indices->data_ : NULL;
  return oml_cuda_switch_float(x->dtype_, [&](auto v) {
    using T = decltype(v);
    max_forward_kernel<T><<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (T *)out->data_, ix, *p);
    return oml_cuda_launched("a pooling kernel");
  });
}

extern "C" int oml_cuda_max_pool2d_backward(const oml_tensor *grad_out, const oml_tensor *indices,
                                            oml_tensor *grad_input, const oml_pool2d *p) {
  if (grad_input->numel_ == 0) return 0;
  if (oml_cuda_use(grad_input->device_)) return -1;
  if (oml_cuda_ok(cudaMemsetAsync(grad_input->data_, 0,
                                  (size_t)(grad_input->numel_ * oml_dtype_size(grad_input->dtype_)),
                                  oml_cuda_stream()),
                  "clearing grad_input"))
    return -1;
  if (grad_out->numel_ == 0) return 0;
  return oml_cuda_switch_float(grad_out->dtype_, [&](auto v) {
    using T = decltype(v);
    max_backward_kernel<T><<<oml_cuda_blocks(grad_out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)grad_out->data_, (const int64_t *)indices->data_, (T *)grad_input->data_, *p);
    return oml_cuda_launched("a pooling kernel");
  });
}

template <bool ADAPTIVE>
static int avg_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  return oml_cuda_switch_float(x->dtype_, [&](auto v) {
    using T = decltype(v);
    avg_forward_kernel<T, ADAPTIVE><<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (T *)out->data_, *p);
    return oml_cuda_launched("a pooling kernel");
  });
}

template <bool ADAPTIVE>
static int avg_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p) {
  if (grad_input->numel_ == 0) return 0;
  if (oml_cuda_use(grad_input->device_)) return -1;
  return oml_cuda_switch_float(grad_out->dtype_, [&](auto v) {
    using T = decltype(v);
    avg_backward_kernel<T, ADAPTIVE><<<oml_cuda_blocks(grad_input->numel_), OML_CUDA_THREADS, 0,
                                       oml_cuda_stream()>>>((const T *)grad_out->data_, (T *)grad_input->data_, *p);
    return oml_cuda_launched("a pooling kernel");
  });
}

extern "C" int oml_cuda_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  return avg_forward<false>(x, out, p);
}
extern "C" int oml_cuda_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p) {
  return avg_backward<false>(grad_out, grad_input, p);
}
extern "C" int oml_cuda_adaptive_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  return avg_forward<true>(x, out, p);
}
extern "C" int oml_cuda_adaptive_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input,
                                                     const oml_pool2d *p) {
  return avg_backward<true>(grad_out, grad_input, p);
}
