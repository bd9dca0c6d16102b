/* cuda/copy.cu — strided copies with dtype conversion, and fills. The
 * conversions are value_math.h's, as on the CPU. */
#include "copy.h"
#include "cuda_common.cuh"

#include "../core/value_math.h"

/* Same dtype: moves elements of `elsize` bytes. */
template <typename U>
static int copy_same(const oml_tensor *src, oml_tensor *dst) {
  return oml_cuda_map1<U, U>(src, dst, [] __device__(U x) { return x; });
}

__global__ void copy_convert_kernel(char *dst, oml_geom gd, int32_t dtd, int64_t esd, const char *src, oml_geom gs,
                                    int32_t dts, int64_t ess, int64_t n) {
  OML_CUDA_LOOP(i, n) {
    const char *a = src + oml_geom_offset(gs, i) * ess;
    char *d = dst + oml_geom_offset(gd, i) * esd;
    if (dts == OML_INT64 && dtd == OML_FLOAT32) *(float *)d = (float)*(const int64_t *)a; /* one rounding */
    else oml_value_store(d, dtd, oml_value_load(a, dts));
  }
}

extern "C" int oml_cuda_copy(const oml_tensor *src, oml_tensor *dst) {
  if (dst->numel_ == 0) return 0;
  if (oml_cuda_use(dst->device_)) return -1;
  if (src->dtype_ == dst->dtype_) {
    if (oml_tensor_is_contiguous(src) && oml_tensor_is_contiguous(dst))
      return oml_cuda_ok(cudaMemcpyAsync(dst->data_, src->data_, (size_t)(dst->numel_ * oml_dtype_size(dst->dtype_)),
                                         cudaMemcpyDeviceToDevice, oml_cuda_stream()),
                         "a device copy");
    switch (oml_dtype_size(dst->dtype_)) {
    case 1: return copy_same<uint8_t>(src, dst);
    case 2: return copy_same<uint16_t>(src, dst);
    case 4: return copy_same<uint32_t>(src, dst);
    default: return copy_same<uint64_t>(src, dst);
    }
  }
  copy_convert_kernel<<<oml_cuda_blocks(dst->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      dst->data_, oml_geom_of(dst), dst->dtype_, oml_dtype_size(dst->dtype_), src->data_, oml_geom_of(src),
      src->dtype_, oml_dtype_size(src->dtype_), dst->numel_);
  return oml_cuda_launched("a converting copy");
}

template <typename U>
static int fill_bits(oml_tensor *t, U bits) {
  return oml_cuda_map0<U>(t, [bits] __device__(int64_t) { return bits; });
}

extern "C" int oml_cuda_fill(oml_tensor *t, double value) {
  char v[8] = {0};
  oml_value_store(v, t->dtype_, value);
  switch (oml_dtype_size(t->dtype_)) {
  case 1: { uint8_t u; memcpy(&u, v, 1); return fill_bits<uint8_t>(t, u); }
  case 2: { uint16_t u; memcpy(&u, v, 2); return fill_bits<uint16_t>(t, u); }
  case 4: { uint32_t u; memcpy(&u, v, 4); return fill_bits<uint32_t>(t, u); }
  default: { uint64_t u; memcpy(&u, v, 8); return fill_bits<uint64_t>(t, u); }
  }
}
