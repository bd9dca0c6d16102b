/* cuda/index.cu — gather, scatter, index_copy/fill, masks and nonzero.
 *
 * A kernel walks the positions of the index (its sizes, row-major); each
 * operand is read through a geometry of those sizes with its own strides, so
 * views need no copies, and the dim being indexed is reached through the
 * index values. Where several positions write one element, the result is the
 * CPU's: sums use atomics (exact for integers, whose wrapping sums do not
 * depend on order; floats may round differently), and plain writes keep the
 * last position in row-major order (index_copy: a pass that finds the last
 * position of each value; scatter: one thread runs a whole line along dim in
 * order). */
#include "index.h"
#include "cuda_common.cuh"

#include <cub/device/device_scan.cuh>

/* f(I()) for the index's dtype (int32 or int64, checked by the caller) */
template <typename F>
static int switch_index(int32_t dtype, F f) {
  return dtype == OML_INT32 ? f(int32_t()) : f(int64_t());
}

/* f(U()) for an unsigned type of the dtype's size: kernels that move
 * elements without reading their values (every dtype, float16 too) */
template <typename F>
static int switch_bits(int32_t dtype, F f) {
  switch (oml_dtype_size(dtype)) {
  case 1: return f(uint8_t());
  case 2: return f(uint16_t());
  case 4: return f(uint32_t());
  default: return f(uint64_t());
  }
}

/* the dtypes that scatter_add and index_add add into */
template <typename F>
static int switch_sum(int32_t dtype, F f) {
  switch (dtype) {
  case OML_FLOAT32: return f(float());
  case OML_FLOAT64: return f(double());
  case OML_INT32: return f(int32_t());
  case OML_INT64: return f(int64_t());
  case OML_UINT8: return f(uint8_t());
  default: return oml_error("cannot add into a %s tensor", oml_dtype_name(dtype));
  }
}

/* Positions over `size` (ndim dims, row-major) with t's strides; the stride
 * along `drop` is zeroed (none when drop < 0): the index values move there. */
static oml_geom geom_over(int32_t ndim, const int64_t *size, const oml_tensor *t, int32_t drop) {
  oml_geom g;
  memset(&g, 0, sizeof g);
  g.ndim = ndim;
  for (int32_t d = 0; d < ndim; d++) {
    g.size[d] = size[d];
    g.stride[d] = d == drop ? 0 : t->stride_[d];
  }
  return g;
}

/* the product of the sizes after dim */
static int64_t inner_size(const oml_tensor *t, int32_t dim) {
  int64_t n = 1;
  for (int32_t d = dim + 1; d < t->ndim_; d++) n *= t->size_[d];
  return n;
}

#define LAUNCH(n) <<<oml_cuda_blocks(n), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>

/* ---- index checks --------------------------------------------------------- */

/* *first = the smallest position whose value is outside 1..limit */
template <typename I>
__global__ void find_bad_kernel(const I *index, oml_geom gi, int64_t limit, int64_t n, unsigned long long *first) {
  OML_CUDA_LOOP(i, n) {
    int64_t v = (int64_t)index[oml_geom_offset(gi, i)];
    if (v < 1 || v > limit) atomicMin(first, (unsigned long long)i);
  }
}

/* result[1] = the value at position result[0], when one was found */
template <typename I>
__global__ void bad_value_kernel(const I *index, oml_geom gi, unsigned long long *result) {
  if (result[0] != ~0ull) result[1] = (unsigned long long)(int64_t)index[oml_geom_offset(gi, (int64_t)result[0])];
}

extern "C" int oml_cuda_find_bad_index(const oml_tensor *index, int64_t limit, int *found, int64_t *bad) {
  *found = 0;
  if (index->numel_ == 0) return 0;
  if (oml_cuda_use(index->device_)) return -1;
  const int64_t nbytes = 2 * sizeof(unsigned long long);
  unsigned long long *result = (unsigned long long *)oml_alloc(nbytes, index->device_);
  if (result == NULL) return -1;
  int rc = oml_cuda_ok(cudaMemsetAsync(result, 0xff, nbytes, oml_cuda_stream()), "the index check");
  if (rc == 0)
    rc = switch_index(index->dtype_, [&](auto x) {
      using I = decltype(x);
      oml_geom gi = oml_geom_of(index);
      find_bad_kernel<I> LAUNCH(index->numel_)((const I *)index->data_, gi, limit, index->numel_, result);
      if (oml_cuda_launched("the index check")) return -1;
      bad_value_kernel<I><<<1, 1, 0, oml_cuda_stream()>>>((const I *)index->data_, gi, result);
      return oml_cuda_launched("the index check");
    });
  unsigned long long host[2];
  if (rc == 0) rc = oml_cuda_ok(cudaMemcpy(host, result, nbytes, cudaMemcpyDeviceToHost), "the index check");
  oml_free(result, nbytes, index->device_);
  if (rc == 0 && host[0] != ~0ull) {
    *found = 1;
    *bad = (int64_t)host[1];
  }
  return rc;
}

/* ---- gather ---------------------------------------------------------------- */

template <typename U, typename I>
__global__ void gather_kernel(U *out, oml_geom go, const I *index, oml_geom gi, const U *a, oml_geom ga, int64_t a_step,
                              int64_t n) {
  OML_CUDA_LOOP(i, n) {
    int64_t v = (int64_t)index[oml_geom_offset(gi, i)];
    out[oml_geom_offset(go, i)] = a[oml_geom_offset(ga, i) + (v - 1) * a_step];
  }
}

extern "C" int oml_cuda_gather(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim) {
  int64_t n = index->numel_;
  if (n == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_geom go = oml_geom_of(out), gi = oml_geom_of(index), ga = geom_over(index->ndim_, index->size_, a, dim);
  return switch_bits(a->dtype_, [&](auto u) {
    using U = decltype(u);
    return switch_index(index->dtype_, [&](auto x) {
      using I = decltype(x);
      gather_kernel<U, I> LAUNCH(n)((U *)out->data_, go, (const I *)index->data_, gi, (const U *)a->data_, ga,
                                    a->stride_[dim], n);
      return oml_cuda_launched("gather");
    });
  });
}

/* ---- scatter ---------------------------------------------------------------- */

/* alpha in the two forms the dtypes need, as on the CPU */
struct scale {
  double f;
  int64_t i;
};

/* p's byte += v, through the aligned 32-bit word that holds it (device
 * blocks are 64-byte granules, so the word lies inside the block) */
__device__ static inline void atomic_add_byte(uint8_t *p, unsigned int v) {
  unsigned int *word = (unsigned int *)((uintptr_t)p & ~(uintptr_t)3);
  unsigned int shift = (unsigned int)((uintptr_t)p & 3) * 8;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    unsigned int byte = ((assumed >> shift) + v) & 0xffu;
    old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (byte << shift));
  } while (old != assumed);
}

/* *p += alpha * x: the CPU's term (cpu/index.c ADD_RUN), integers wrapping */
__device__ static inline void add_scaled(float *p, float x, scale k) { atomicAdd(p, (float)k.f * x); }
__device__ static inline void add_scaled(double *p, double x, scale k) { atomicAdd(p, k.f * x); }
__device__ static inline void add_scaled(int32_t *p, int32_t x, scale k) {
  atomicAdd((unsigned int *)p, (unsigned int)k.i * (unsigned int)x);
}
__device__ static inline void add_scaled(int64_t *p, int64_t x, scale k) {
  atomicAdd((unsigned long long *)p, (unsigned long long)k.i * (unsigned long long)x);
}
__device__ static inline void add_scaled(uint8_t *p, uint8_t x, scale k) {
  atomic_add_byte(p, ((unsigned int)k.i * (unsigned int)x) & 0xffu);
}

template <typename T, typename I>
__global__ void scatter_add_kernel(T *dst, oml_geom gd, int64_t dst_step, const I *index, oml_geom gi, const T *src,
                                   oml_geom gs, scale k, int64_t n) {
  OML_CUDA_LOOP(i, n) {
    int64_t v = (int64_t)index[oml_geom_offset(gi, i)];
    add_scaled(dst + oml_geom_offset(gd, i) + (v - 1) * dst_step, src[oml_geom_offset(gs, i)], k);
  }
}

/* One thread per line of the index along dim, its positions in order, so
 * that the last one that hits an element of dst wins, as on the CPU. Lines
 * never share an element of dst: they differ in a coordinate outside dim. */
template <typename U, typename I>
__global__ void scatter_lines_kernel(U *dst, oml_geom gd, int64_t dst_step, const I *index, oml_geom gi,
                                     int64_t index_step, const U *src, oml_geom gs, int64_t src_step, int64_t len,
                                     int64_t lines) {
  OML_CUDA_LOOP(l, lines) {
    U *d = dst + oml_geom_offset(gd, l);
    const I *x = index + oml_geom_offset(gi, l);
    const U *s = src + oml_geom_offset(gs, l);
    for (int64_t j = 0; j < len; j++) d[((int64_t)x[j * index_step] - 1) * dst_step] = s[j * src_step];
  }
}

static int scatter_add(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, double alpha) {
  int64_t n = index->numel_;
  oml_geom gd = geom_over(index->ndim_, index->size_, dst, dim), gi = oml_geom_of(index);
  oml_geom gs = geom_over(index->ndim_, index->size_, src, -1);
  /* the caller checked that alpha is an integer for integer dtypes */
  scale k = {alpha, oml_is_floating(dst->dtype_) ? 0 : (int64_t)alpha};
  return switch_sum(dst->dtype_, [&](auto t) {
    using T = decltype(t);
    return switch_index(index->dtype_, [&](auto x) {
      using I = decltype(x);
      scatter_add_kernel<T, I> LAUNCH(n)((T *)dst->data_, gd, dst->stride_[dim], (const I *)index->data_, gi,
                                         (const T *)src->data_, gs, k, n);
      return oml_cuda_launched("scatter_add");
    });
  });
}

/* the lines of index along dim: its sizes with 1 along dim, t's strides */
static oml_geom lines_over(const oml_tensor *index, const oml_tensor *t, int32_t dim) {
  oml_geom g = geom_over(index->ndim_, index->size_, t, dim);
  g.size[dim] = 1;
  return g;
}

extern "C" int oml_cuda_scatter(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim,
                                int32_t accumulate, double alpha) {
  if (index->numel_ == 0) return 0;
  if (oml_cuda_use(dst->device_)) return -1;
  if (accumulate) return scatter_add(src, index, dst, dim, alpha);
  int64_t len = index->size_[dim], lines = index->numel_ / len;
  oml_geom gd = lines_over(index, dst, dim), gi = lines_over(index, index, dim), gs = lines_over(index, src, dim);
  return switch_bits(dst->dtype_, [&](auto u) {
    using U = decltype(u);
    return switch_index(index->dtype_, [&](auto x) {
      using I = decltype(x);
      scatter_lines_kernel<U, I> LAUNCH(lines)((U *)dst->data_, gd, dst->stride_[dim], (const I *)index->data_, gi,
                                               index->stride_[dim], (const U *)src->data_, gs, src->stride_[dim], len,
                                               lines);
      return oml_cuda_launched("scatter");
    });
  });
}

/* ---- index_copy and index_fill ------------------------------------------------
 * Position i (row-major over the sizes of dst with the index's length along
 * dim) takes its index entry j from its coordinate along dim. */

/* last[v - 1] = the largest j whose index value is v (0 when none, which no
 * other j reads) */
template <typename I>
__global__ void last_position_kernel(const I *index, int64_t index_step, int64_t n, unsigned long long *last) {
  OML_CUDA_LOOP(j, n) atomicMax(last + ((int64_t)index[j * index_step] - 1), (unsigned long long)j);
}

template <typename U, typename I>
__global__ void index_copy_kernel(U *dst, oml_geom gd, int64_t dst_step, const I *index, int64_t index_step,
                                  const unsigned long long *last, const U *src, oml_geom gs, int64_t inner,
                                  int64_t len, int64_t n) {
  OML_CUDA_LOOP(i, n) {
    int64_t j = i / inner % len, v = (int64_t)index[j * index_step];
    if (last[v - 1] == (unsigned long long)j) dst[oml_geom_offset(gd, i) + (v - 1) * dst_step] = src[oml_geom_offset(gs, i)];
  }
}

/* the index's step: 0 for a 0-d index */
static int64_t index_step(const oml_tensor *index) { return index->ndim_ > 0 ? index->stride_[0] : 0; }

extern "C" int oml_cuda_index_copy(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim) {
  int64_t n = src->numel_, len = index->numel_;
  if (n == 0) return 0;
  if (oml_cuda_use(dst->device_)) return -1;
  int64_t nbytes = dst->size_[dim] * (int64_t)sizeof(unsigned long long);
  unsigned long long *last = (unsigned long long *)oml_alloc(nbytes, dst->device_);
  if (last == NULL) return -1;
  oml_geom gd = geom_over(src->ndim_, src->size_, dst, dim), gs = oml_geom_of(src);
  int rc = oml_cuda_ok(cudaMemsetAsync(last, 0, nbytes, oml_cuda_stream()), "index_copy");
  if (rc == 0)
    rc = switch_bits(dst->dtype_, [&](auto u) {
      using U = decltype(u);
      return switch_index(index->dtype_, [&](auto x) {
        using I = decltype(x);
        const I *ip = (const I *)index->data_;
        last_position_kernel<I> LAUNCH(len)(ip, index_step(index), len, last);
        if (oml_cuda_launched("index_copy")) return -1;
        index_copy_kernel<U, I> LAUNCH(n)((U *)dst->data_, gd, dst->stride_[dim], ip, index_step(index), last,
                                          (const U *)src->data_, gs, inner_size(src, dim), len, n);
        return oml_cuda_launched("index_copy");
      });
    });
  oml_free(last, nbytes, dst->device_);
  return rc;
}

/* Repeated index values write the same value, so any order gives the CPU's result. */
template <typename U, typename I>
__global__ void index_fill_kernel(U *dst, oml_geom gd, int64_t dst_step, const I *index, int64_t index_step, U value,
                                  int64_t inner, int64_t len, int64_t n) {
  OML_CUDA_LOOP(i, n) {
    int64_t j = i / inner % len;
    dst[oml_geom_offset(gd, i) + ((int64_t)index[j * index_step] - 1) * dst_step] = value;
  }
}

extern "C" int oml_cuda_index_fill(const oml_tensor *index, oml_tensor *dst, int32_t dim, double value) {
  int64_t size[OML_MAX_DIMS], len = index->numel_;
  memcpy(size, dst->size_, sizeof size);
  size[dim] = len;
  int64_t n = len * (dst->numel_ / (dst->size_[dim] > 0 ? dst->size_[dim] : 1));
  if (n == 0) return 0;
  if (oml_cuda_use(dst->device_)) return -1;
  char bits[8] = {0};
  oml_store(bits, dst->dtype_, value); /* the CPU's conversion */
  oml_geom gd = geom_over(dst->ndim_, size, dst, dim);
  int64_t inner = inner_size(dst, dim);
  return switch_bits(dst->dtype_, [&](auto u) {
    using U = decltype(u);
    U v;
    memcpy(&v, bits, sizeof v);
    return switch_index(index->dtype_, [&](auto x) {
      using I = decltype(x);
      index_fill_kernel<U, I> LAUNCH(n)((U *)dst->data_, gd, dst->stride_[dim], (const I *)index->data_,
                                        index_step(index), v, inner, len, n);
      return oml_cuda_launched("index_fill");
    });
  });
}

/* ---- masks and nonzero ------------------------------------------------------- */

template <typename U>
static int masked_fill_bits(const oml_tensor *mask, oml_tensor *dst, U bits) {
  return oml_cuda_map2<U, U, uint8_t>(dst, mask, dst, [bits] __device__(U x, uint8_t m) { return m ? bits : x; });
}

extern "C" int oml_cuda_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value) {
  char v[8] = {0};
  oml_store(v, dst->dtype_, value); /* the CPU's conversion */
  switch (oml_dtype_size(dst->dtype_)) {
  case 1: { uint8_t u; memcpy(&u, v, 1); return masked_fill_bits<uint8_t>(mask, dst, u); }
  case 2: { uint16_t u; memcpy(&u, v, 2); return masked_fill_bits<uint16_t>(mask, dst, u); }
  case 4: { uint32_t u; memcpy(&u, v, 4); return masked_fill_bits<uint32_t>(mask, dst, u); }
  default: { uint64_t u; memcpy(&u, v, 8); return masked_fill_bits<uint64_t>(mask, dst, u); }
  }
}

__global__ void mask_flags_kernel(int64_t *flags, const uint8_t *mask, oml_geom gm, int64_t n) {
  OML_CUDA_LOOP(i, n) flags[i] = mask[oml_geom_offset(gm, i)] != 0;
}

extern "C" int oml_cuda_count_true(const oml_tensor *mask, int64_t **positions, int64_t *count) {
  int64_t n = mask->numel_;
  int32_t device = mask->device_;
  *positions = NULL;
  *count = 0;
  if (n == 0) return 0;
  if (oml_cuda_use(device)) return -1;
  int64_t *pos = (int64_t *)oml_alloc(n * (int64_t)sizeof(int64_t), device);
  if (pos == NULL) return -1;
  mask_flags_kernel LAUNCH(n)(pos, (const uint8_t *)mask->data_, oml_geom_of(mask), n);
  int rc = oml_cuda_launched("the count of true elements");
  size_t temp_bytes = 0; /* the scan runs in place */
  void *temp = NULL;
  if (rc == 0)
    rc = oml_cuda_ok(cub::DeviceScan::InclusiveSum(NULL, temp_bytes, pos, pos, n, oml_cuda_stream()), "a prefix sum");
  if (temp_bytes < 8) temp_bytes = 8; /* a NULL buffer would ask CUB for the size again */
  if (rc == 0 && (temp = oml_alloc((int64_t)temp_bytes, device)) == NULL) rc = -1;
  if (rc == 0)
    rc = oml_cuda_ok(cub::DeviceScan::InclusiveSum(temp, temp_bytes, pos, pos, n, oml_cuda_stream()), "a prefix sum");
  if (temp != NULL) oml_free(temp, (int64_t)temp_bytes, device);
  /* the result's size depends on the data: the total comes to the host */
  if (rc == 0) rc = oml_cuda_ok(cudaMemcpy(count, pos + n - 1, sizeof *count, cudaMemcpyDeviceToHost), "a count");
  if (rc) {
    oml_free(pos, n * (int64_t)sizeof(int64_t), device);
    return -1;
  }
  *positions = pos;
  return 0;
}

/* Element i is selected when the running count grows there; it goes to the
 * row before the count. */
template <typename U>
__global__ void masked_select_kernel(U *out, int64_t out_step, const U *a, oml_geom ga, const int64_t *pos, int64_t n) {
  OML_CUDA_LOOP(i, n) {
    int64_t before = i > 0 ? pos[i - 1] : 0;
    if (pos[i] != before) out[before * out_step] = a[oml_geom_offset(ga, i)];
  }
}

extern "C" int oml_cuda_masked_select(const oml_tensor *a, const oml_tensor *mask, const int64_t *positions,
                                      oml_tensor *out) {
  int64_t n = mask->numel_;
  if (n == 0 || out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_geom ga = oml_geom_of(a);
  return switch_bits(a->dtype_, [&](auto u) {
    using U = decltype(u);
    masked_select_kernel<U> LAUNCH(n)((U *)out->data_, out->stride_[0], (const U *)a->data_, ga, positions, n);
    return oml_cuda_launched("masked_select");
  });
}

__global__ void nonzero_kernel(int64_t *out, int64_t row_step, int64_t col_step, oml_geom gm, const int64_t *pos,
                               int64_t n) {
  OML_CUDA_LOOP(i, n) {
    int64_t before = i > 0 ? pos[i - 1] : 0;
    if (pos[i] == before) continue;
    int64_t *row = out + before * row_step, rest = i;
    for (int32_t d = gm.ndim - 1; d >= 0; d--) {
      row[d * col_step] = rest % gm.size[d] + 1;
      rest /= gm.size[d];
    }
  }
}

extern "C" int oml_cuda_nonzero(const oml_tensor *mask, const int64_t *positions, oml_tensor *out) {
  int64_t n = mask->numel_;
  if (n == 0 || out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  nonzero_kernel LAUNCH(n)((int64_t *)out->data_, out->stride_[0], out->stride_[1], oml_geom_of(mask), positions, n);
  return oml_cuda_launched("nonzero");
}
