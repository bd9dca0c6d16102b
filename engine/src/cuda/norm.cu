/* cuda/norm.cu — batch norm and layer norm. Sums run in float64 as on the
 * CPU: one block per channel (batch norm) or per row (layer norm) reduces
 * with oml_cuda_block_sum, then element-wise kernels apply the
 * coefficients of norm_math.h with the CPU's roundings to the data dtype.
 * Layer norm's parameter gradients are summed over blocks of LN_BLOCK_ROWS
 * rows, then over the blocks in order, as cpu/norm.c does. */
#include "norm.h"
#include "cuda_common.cuh"

#define NORM_THREADS 256
#define LN_BLOCK_ROWS 64

/* A 1-d vector argument read and written through its stride; p NULL for none. */
template <typename T>
struct vec {
  T *p;
  int64_t stride;
  __device__ T &operator[](int64_t i) const { return p[i * stride]; }
};
template <typename T>
static vec<T> vec_of(const oml_tensor *t) {
  vec<T> v = {t ? (T *)t->data_ : NULL, t ? t->stride_[0] : 0};
  return v;
}

/* one block per row or channel: a grid-stride loop over them */
static unsigned row_blocks(int64_t rows) { return (unsigned)(rows < 1 ? 1 : (rows > 65535 * 8 ? 65535 * 8 : rows)); }

/* element e of channel ch's n*s values in [n, c, s] */
__device__ static inline int64_t bn_at(const oml_bn_shape &sh, int64_t ch, int64_t e) {
  return ((e / sh.s) * sh.c + ch) * sh.s + e % sh.s;
}

/* ---- batch norm forward ----------------------------------------------------- */

/* Training, per channel: mean and sum of squared deviations, the affine
 * coefficients into coef (scale [c], then shift [c]), the saved and running
 * statistics. A channel without values keeps its running statistics and
 * saves zeros, as ops/norm.c does. */
template <typename T>
__global__ void bn_train_stats_kernel(const T *x, oml_bn_shape sh, vec<const T> w, vec<const T> b, vec<T> running_mean,
                                      vec<T> running_var, vec<T> save_mean, vec<T> save_invstd, double momentum,
                                      double eps, double *coef) {
  __shared__ double shared[32];
  const int64_t m = sh.n * sh.s;
  for (int64_t ch = blockIdx.x; ch < sh.c; ch += gridDim.x) {
    if (m == 0) {
      if (threadIdx.x == 0 && save_mean.p) save_mean[ch] = 0;
      if (threadIdx.x == 0 && save_invstd.p) save_invstd[ch] = 0;
      continue;
    }
    double part = 0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) part += x[bn_at(sh, ch, e)];
    const double mu = oml_cuda_block_sum(part, shared) / (double)m;
    part = 0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
      double dev = x[bn_at(sh, ch, e)] - mu;
      part += dev * dev;
    }
    const double ssd = oml_cuda_block_sum(part, shared);
    if (threadIdx.x == 0) {
      oml_bn_train_affine(w.p ? (double)w[ch] : 1, b.p ? (double)b[ch] : 0, mu, ssd, (double)m, eps, coef + ch,
                          coef + sh.c + ch);
      if (save_mean.p) save_mean[ch] = (T)mu;
      if (save_invstd.p) save_invstd[ch] = (T)oml_norm_invstd(ssd, (double)m, eps);
      if (running_mean.p) running_mean[ch] = (T)oml_norm_running(momentum, mu, (double)running_mean[ch]);
      if (running_var.p)
        running_var[ch] = (T)oml_norm_running(momentum, ssd / (double)(m - 1), (double)running_var[ch]);
    }
  }
}

/* Evaluation, per channel: the coefficients from the running statistics */
template <typename T>
__global__ void bn_eval_coef_kernel(oml_bn_shape sh, vec<const T> w, vec<const T> b, vec<const T> running_mean,
                                    vec<const T> running_var, double eps, double *coef) {
  OML_CUDA_LOOP(ch, sh.c) {
    oml_bn_train_affine(w.p ? (double)w[ch] : 1, b.p ? (double)b[ch] : 0, (double)running_mean[ch],
                        (double)running_var[ch], 1.0, eps, coef + ch, coef + sh.c + ch);
  }
}

template <typename T>
__global__ void bn_affine_kernel(const T *x, T *out, oml_bn_shape sh, const double *coef) {
  OML_CUDA_LOOP(e, sh.n * sh.c * sh.s) {
    int64_t ch = (e / sh.s) % sh.c;
    out[e] = x[e] * (T)coef[ch] + (T)coef[sh.c + ch];
  }
}

extern "C" int oml_cuda_batch_norm_forward(const oml_tensor *x, oml_tensor *out, oml_bn_shape sh,
                                           const oml_tensor *weight, const oml_tensor *bias, oml_tensor *running_mean,
                                           oml_tensor *running_var, oml_tensor *save_mean, oml_tensor *save_invstd,
                                           int32_t training, double momentum, double eps) {
  if (sh.c == 0) return 0;
  if (oml_cuda_use(x->device_)) return -1;
  int64_t nbytes = 2 * sh.c * (int64_t)sizeof(double);
  double *coef = (double *)oml_alloc(nbytes, x->device_);
  if (coef == NULL) return -1;
  int rc = oml_cuda_switch_float(x->dtype_, [&](auto zero) {
    using T = decltype(zero);
    if (training)
      bn_train_stats_kernel<T><<<row_blocks(sh.c), NORM_THREADS, 0, oml_cuda_stream()>>>(
          (const T *)x->data_, sh, vec_of<const T>(weight), vec_of<const T>(bias), vec_of<T>(running_mean),
          vec_of<T>(running_var), vec_of<T>(save_mean), vec_of<T>(save_invstd), momentum, eps, coef);
    else
      bn_eval_coef_kernel<T><<<oml_cuda_blocks(sh.c), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
          sh, vec_of<const T>(weight), vec_of<const T>(bias), vec_of<const T>(running_mean),
          vec_of<const T>(running_var), eps, coef);
    if (oml_cuda_launched("the batch norm statistics kernel")) return -1;
    if (out->numel_ == 0) return 0;
    bn_affine_kernel<T><<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (T *)out->data_, sh, coef);
    return oml_cuda_launched("the batch norm kernel");
  });
  oml_free(coef, nbytes, x->device_);
  return rc;
}

/* ---- batch norm backward ---------------------------------------------------- */

/* Per channel: sum(dy) and sum((x - mean) * dy), the parameter gradients
 * accumulated, and coef = a, gm, k, mean ([c] each) for bn_dx_kernel. */
template <typename T>
__global__ void bn_backward_stats_kernel(const T *x, const T *dy, oml_bn_shape sh, vec<const T> w, vec<const T> mean,
                                         vec<const T> stat, int32_t training, double eps, vec<T> grad_weight,
                                         vec<T> grad_bias, double *coef) {
  __shared__ double shared[32];
  const int64_t m = sh.n * sh.s;
  for (int64_t ch = blockIdx.x; ch < sh.c; ch += gridDim.x) {
    const double mu = (double)mean[ch];
    const double invstd = training ? (double)stat[ch] : oml_norm_invstd((double)stat[ch], 1.0, eps);
    double pg = 0, pd = 0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
      int64_t at = bn_at(sh, ch, e);
      pg += dy[at];
      pd += (x[at] - mu) * dy[at];
    }
    const double sum_dy = oml_cuda_block_sum(pg, shared);
    const double dot = oml_cuda_block_sum(pd, shared);
    if (threadIdx.x == 0) {
      oml_bn_backward_coefs(sum_dy, dot, invstd, w.p ? (double)w[ch] : 1, (double)m, training, coef + ch,
                            coef + sh.c + ch, coef + 2 * sh.c + ch);
      coef[3 * sh.c + ch] = mu;
      if (grad_weight.p) grad_weight[ch] = (T)((double)grad_weight[ch] + dot * invstd);
      if (grad_bias.p) grad_bias[ch] = (T)((double)grad_bias[ch] + sum_dy);
    }
  }
}

/* dx = (dy - gm - (x - mean) * k) * a: in the data dtype for [n, c, s > 1],
 * in float64 for [n, c], as the CPU's two kernels */
template <typename T>
__global__ void bn_dx_kernel(const T *x, const T *dy, T *dx, oml_bn_shape sh, int32_t training, const double *coef) {
  const double *a = coef, *gm = coef + sh.c, *k = coef + 2 * sh.c, *mean = coef + 3 * sh.c;
  OML_CUDA_LOOP(e, sh.n * sh.c * sh.s) {
    int64_t ch = (e / sh.s) % sh.c;
    if (sh.s == 1) dx[e] = (T)((dy[e] - gm[ch] - (x[e] - mean[ch]) * k[ch]) * a[ch]);
    else if (training) dx[e] = (dy[e] - (T)gm[ch] - (x[e] - (T)mean[ch]) * (T)k[ch]) * (T)a[ch];
    else dx[e] = dy[e] * (T)a[ch];
  }
}

extern "C" int oml_cuda_batch_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx,
                                            oml_bn_shape sh, const oml_tensor *weight, oml_tensor *grad_weight,
                                            oml_tensor *grad_bias, const oml_tensor *mean, const oml_tensor *stat,
                                            int32_t training, double eps) {
  if (sh.c == 0) return 0;
  if (oml_cuda_use(x->device_)) return -1;
  int64_t nbytes = 4 * sh.c * (int64_t)sizeof(double);
  double *coef = (double *)oml_alloc(nbytes, x->device_);
  if (coef == NULL) return -1;
  int rc = oml_cuda_switch_float(x->dtype_, [&](auto zero) {
    using T = decltype(zero);
    bn_backward_stats_kernel<T><<<row_blocks(sh.c), NORM_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (const T *)dy->data_, sh, vec_of<const T>(weight), vec_of<const T>(mean),
        vec_of<const T>(stat), training, eps, vec_of<T>(grad_weight), vec_of<T>(grad_bias), coef);
    if (oml_cuda_launched("the batch norm backward statistics kernel")) return -1;
    if (dx == NULL || dx->numel_ == 0) return 0;
    bn_dx_kernel<T><<<oml_cuda_blocks(dx->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (const T *)dy->data_, (T *)dx->data_, sh, training, coef);
    return oml_cuda_launched("the batch norm backward kernel");
  });
  oml_free(coef, nbytes, x->device_);
  return rc;
}

/* ---- layer norm ------------------------------------------------------------- */

template <typename T>
__global__ void ln_forward_kernel(const T *x, T *out, int64_t rows, int64_t d, const T *w, const T *b, double eps,
                                  T *save_mean, T *save_invstd) {
  __shared__ double shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *p = x + r * d;
    T *q = out + r * d;
    double part = 0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) part += p[j];
    const double mu = oml_cuda_block_sum(part, shared) / (double)d;
    part = 0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      double dev = p[j] - mu;
      part += dev * dev;
    }
    const double rstd = oml_norm_invstd(oml_cuda_block_sum(part, shared), (double)d, eps);
    const T tm = (T)mu, tr = (T)rstd;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      T v = w ? (p[j] - tm) * tr * w[j] : (p[j] - tm) * tr;
      q[j] = b ? v + b[j] : v;
    }
    if (threadIdx.x == 0 && save_mean) save_mean[r] = tm;
    if (threadIdx.x == 0 && save_invstd) save_invstd[r] = tr;
  }
}

template <typename T>
__global__ void ln_dx_kernel(const T *x, const T *dy, T *dx, int64_t rows, int64_t d, const T *w, const T *mean,
                             const T *invstd) {
  __shared__ double shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *p = x + r * d, *g = dy + r * d;
    const double mu = mean[r], rstd = invstd[r];
    double ps = 0, pb = 0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      double gw = w ? (double)g[j] * w[j] : (double)g[j];
      ps += gw * p[j];
      pb += gw;
    }
    const double ds = oml_cuda_block_sum(ps, shared), db = oml_cuda_block_sum(pb, shared);
    double cb, cc;
    oml_ln_backward_coefs(ds, db, mu, rstd, (double)d, &cb, &cc);
    const T ta = (T)rstd, tb = (T)cb, tc = (T)cc;
    T *q = dx + r * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
      q[j] = w ? ta * g[j] * w[j] + tb * p[j] + tc : ta * g[j] + tb * p[j] + tc;
  }
}

/* partial[blk] = the sums of dy * xhat (d values), then of dy (d values),
 * over the rows of block blk */
template <typename T>
__global__ void ln_partial_kernel(const T *x, const T *dy, int64_t rows, int64_t d, const T *mean, const T *invstd,
                                  double *partial) {
  const int64_t nblocks = (rows + LN_BLOCK_ROWS - 1) / LN_BLOCK_ROWS;
  OML_CUDA_LOOP(i, nblocks * d) {
    int64_t blk = i / d, j = i % d, r1 = blk * LN_BLOCK_ROWS + LN_BLOCK_ROWS;
    if (r1 > rows) r1 = rows;
    double sw = 0, sb = 0;
    for (int64_t r = blk * LN_BLOCK_ROWS; r < r1; r++) {
      const double mu = mean[r], rstd = invstd[r];
      sw += (double)dy[r * d + j] * ((x[r * d + j] - mu) * rstd);
      sb += dy[r * d + j];
    }
    partial[2 * blk * d + j] = sw;
    partial[2 * blk * d + d + j] = sb;
  }
}

template <typename T>
__global__ void ln_param_grad_kernel(const double *partial, int64_t nblocks, int64_t d, vec<T> grad_weight,
                                     vec<T> grad_bias) {
  OML_CUDA_LOOP(j, d) {
    double sw = 0, sb = 0;
    for (int64_t blk = 0; blk < nblocks; blk++) {
      sw += partial[2 * blk * d + j];
      sb += partial[2 * blk * d + d + j];
    }
    if (grad_weight.p) grad_weight[j] = (T)((double)grad_weight[j] + sw);
    if (grad_bias.p) grad_bias[j] = (T)((double)grad_bias[j] + sb);
  }
}

template <typename T>
static const T *data_or_null(const oml_tensor *t) {
  return t ? (const T *)t->data_ : NULL;
}

extern "C" int oml_cuda_layer_norm_forward(const oml_tensor *x, oml_tensor *out, int64_t rows, int64_t d,
                                           const oml_tensor *w, const oml_tensor *b, double eps,
                                           oml_tensor *save_mean, oml_tensor *save_invstd) {
  if (rows == 0) return 0;
  if (oml_cuda_use(x->device_)) return -1;
  return oml_cuda_switch_float(x->dtype_, [&](auto zero) {
    using T = decltype(zero);
    ln_forward_kernel<T><<<row_blocks(rows), NORM_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (T *)out->data_, rows, d, data_or_null<T>(w), data_or_null<T>(b), eps,
        save_mean ? (T *)save_mean->data_ : NULL, save_invstd ? (T *)save_invstd->data_ : NULL);
    return oml_cuda_launched("the layer norm kernel");
  });
}

extern "C" int oml_cuda_layer_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, int64_t rows,
                                            int64_t d, const oml_tensor *w, const oml_tensor *mean,
                                            const oml_tensor *invstd, oml_tensor *grad_weight,
                                            oml_tensor *grad_bias) {
  if (oml_cuda_use(x->device_)) return -1;
  const int64_t nblocks = (rows + LN_BLOCK_ROWS - 1) / LN_BLOCK_ROWS;
  return oml_cuda_switch_float(x->dtype_, [&](auto zero) {
    using T = decltype(zero);
    if (dx && rows > 0) {
      ln_dx_kernel<T><<<row_blocks(rows), NORM_THREADS, 0, oml_cuda_stream()>>>(
          (const T *)x->data_, (const T *)dy->data_, (T *)dx->data_, rows, d, data_or_null<T>(w),
          (const T *)mean->data_, (const T *)invstd->data_);
      if (oml_cuda_launched("the layer norm backward kernel")) return -1;
    }
    if ((grad_weight == NULL && grad_bias == NULL) || nblocks == 0) return 0;
    int64_t nbytes = 2 * nblocks * d * (int64_t)sizeof(double);
    double *partial = (double *)oml_alloc(nbytes, x->device_);
    if (partial == NULL) return -1;
    ln_partial_kernel<T><<<oml_cuda_blocks(nblocks * d), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, (const T *)dy->data_, rows, d, (const T *)mean->data_, (const T *)invstd->data_,
        partial);
    int rc = oml_cuda_launched("the layer norm parameter gradient kernel");
    if (rc == 0) {
      ln_param_grad_kernel<T><<<oml_cuda_blocks(d), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
          partial, nblocks, d, vec_of<T>(grad_weight), vec_of<T>(grad_bias));
      rc = oml_cuda_launched("the layer norm parameter gradient kernel");
    }
    oml_free(partial, nbytes, x->device_);
    return rc;
  });
}
