/* cuda/memory.cu — device allocation and copies through the CUDA runtime. */
#include "cuda_memory.h"

#include <cuda_runtime.h>

extern "C" int oml_error(const char *fmt, ...);

extern "C" int32_t oml_cuda_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

static int use_device(int32_t device) {
  int n = oml_cuda_count();
  if (device < 0 || device >= n) return oml_error("cuda:%d does not exist (%d CUDA devices)", device, n);
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) return oml_error("cuda:%d: %s", device, cudaGetErrorString(e));
  return 0;
}

extern "C" void *oml_cuda_malloc(int64_t nbytes, int32_t device) {
  if (use_device(device)) return NULL;
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, nbytes > 0 ? (size_t)nbytes : 1);
  if (e != cudaSuccess) {
    oml_error("cuda:%d: %s", device, cudaGetErrorString(e));
    return NULL;
  }
  return p;
}

extern "C" void oml_cuda_free(void *p, int32_t device) {
  if (p && cudaSetDevice(device) == cudaSuccess) cudaFree(p);
}

extern "C" int oml_cuda_memcpy(void *dst, int32_t dst_device, const void *src, int32_t src_device, int64_t nbytes) {
  int32_t device = dst_device >= 0 ? dst_device : src_device;
  if (use_device(device)) return -1;
  cudaMemcpyKind kind = src_device < 0 ? cudaMemcpyHostToDevice
                        : dst_device < 0 ? cudaMemcpyDeviceToHost
                                         : cudaMemcpyDeviceToDevice;
  cudaError_t e = cudaMemcpy(dst, src, (size_t)nbytes, kind);
  if (e != cudaSuccess) return oml_error("copy to or from cuda:%d: %s", device, cudaGetErrorString(e));
  return 0;
}
