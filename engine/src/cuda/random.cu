/* cuda/random.cu — the random fills on the device: one thread per counter
 * block, each drawing that block with core/philox.h and writing the elements
 * it serves, exactly as the CPU's loops in cpu/random.c (block k of a fill
 * is Philox block offset + k and serves elements [k PER, k PER + PER)). */
#include "random.h"
#include "cuda_common.cuh"

#include "../core/philox.h"

/* The draw of each kind: PER elements of T from one Philox block. */
struct uniform32 {
  static constexpr int PER = OML_UNIFORM32_PER_BLOCK;
  double p1, p2;
  __device__ void operator()(oml_philox_words b, float *v) const { oml_uniform32_block(b, p1, p2, v); }
};
struct uniform64 {
  static constexpr int PER = OML_UNIFORM64_PER_BLOCK;
  double p1, p2;
  __device__ void operator()(oml_philox_words b, double *v) const { oml_uniform64_block(b, p1, p2, v); }
};
struct normal32 {
  static constexpr int PER = OML_NORMAL32_PER_BLOCK;
  double p1, p2;
  __device__ void operator()(oml_philox_words b, float *v) const { oml_normal32_block(b, p1, p2, v); }
};
struct normal64 {
  static constexpr int PER = OML_NORMAL64_PER_BLOCK;
  double p1, p2;
  __device__ void operator()(oml_philox_words b, double *v) const { oml_normal64_block(b, p1, p2, v); }
};
template <typename T>
struct bernoulli_of {
  static constexpr int PER = OML_BERNOULLI_PER_BLOCK;
  double p;
  __device__ void operator()(oml_philox_words b, T *v) const {
    int bits[OML_BERNOULLI_PER_BLOCK];
    oml_bernoulli_block(b, p, bits);
    for (int k = 0; k < OML_BERNOULLI_PER_BLOCK; k++) v[k] = (T)bits[k];
  }
};
template <typename T>
struct randint_of {
  static constexpr int PER = OML_RANDINT_PER_BLOCK;
  int64_t low;
  uint64_t range;
  __device__ void operator()(oml_philox_words b, T *v) const { v[0] = (T)oml_randint_value(b, low, range); }
};

template <typename T, typename D>
__global__ void block_fill_kernel(T *out, int64_t n, int64_t nblocks, uint64_t seed, uint64_t offset, D draw) {
  OML_CUDA_LOOP(k, nblocks) {
    T v[D::PER];
    draw(oml_philox_block(seed, offset + (uint64_t)k), v);
    int64_t first = k * D::PER;
    int count = (int)(n - first < D::PER ? n - first : D::PER);
    for (int i = 0; i < count; i++) out[first + i] = v[i];
  }
}

template <typename T, typename D>
static int block_fill(oml_tensor *t, uint64_t seed, uint64_t offset, D draw) {
  int64_t n = t->numel_, nblocks = (n + D::PER - 1) / D::PER;
  if (n == 0) return 0;
  if (oml_cuda_use(t->device_)) return -1;
  block_fill_kernel<T, D><<<oml_cuda_blocks(nblocks), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (T *)t->data_, n, nblocks, seed, offset, draw);
  return oml_cuda_launched("a random fill");
}

extern "C" int oml_cuda_uniform(oml_tensor *t, uint64_t seed, uint64_t offset, double low, double high) {
  if (t->dtype_ == OML_FLOAT32) return block_fill<float>(t, seed, offset, uniform32{low, high});
  return block_fill<double>(t, seed, offset, uniform64{low, high});
}

extern "C" int oml_cuda_normal(oml_tensor *t, uint64_t seed, uint64_t offset, double mean, double std) {
  if (t->dtype_ == OML_FLOAT32) return block_fill<float>(t, seed, offset, normal32{mean, std});
  return block_fill<double>(t, seed, offset, normal64{mean, std});
}

extern "C" int oml_cuda_randint(oml_tensor *t, uint64_t seed, uint64_t offset, int64_t low, uint64_t range) {
  switch (t->dtype_) {
  case OML_FLOAT32: return block_fill<float>(t, seed, offset, randint_of<float>{low, range});
  case OML_FLOAT64: return block_fill<double>(t, seed, offset, randint_of<double>{low, range});
  case OML_INT32: return block_fill<int32_t>(t, seed, offset, randint_of<int32_t>{low, range});
  case OML_INT64: return block_fill<int64_t>(t, seed, offset, randint_of<int64_t>{low, range});
  default: return block_fill<uint8_t>(t, seed, offset, randint_of<uint8_t>{low, range}); /* uint8 and bool */
  }
}

extern "C" int oml_cuda_bernoulli(oml_tensor *t, uint64_t seed, uint64_t offset, double p) {
  switch (t->dtype_) {
  case OML_FLOAT32: return block_fill<float>(t, seed, offset, bernoulli_of<float>{p});
  case OML_FLOAT64: return block_fill<double>(t, seed, offset, bernoulli_of<double>{p});
  case OML_INT32: return block_fill<int32_t>(t, seed, offset, bernoulli_of<int32_t>{p});
  case OML_INT64: return block_fill<int64_t>(t, seed, offset, bernoulli_of<int64_t>{p});
  default: return block_fill<uint8_t>(t, seed, offset, bernoulli_of<uint8_t>{p}); /* uint8 and bool */
  }
}
