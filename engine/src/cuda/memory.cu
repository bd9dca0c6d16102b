/* cuda/memory.cu — devices, errors, allocation and copies through the CUDA
 * runtime. */
#include "cuda_common.cuh"
#include "cuda_memory.h"

int oml_cuda_fail(cudaError_t e, const char *what) {
  /* A launch or allocation error is cleared here so that the process stays
   * usable; a kernel fault is sticky and every later call reports it. */
  cudaGetLastError();
  return oml_error("%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

extern "C" int32_t oml_cuda_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

int oml_cuda_use(int32_t device) {
  static thread_local int current = -1;
  if (device == current) return 0;
  int n = oml_cuda_count();
  if (device < 0 || device >= n) return oml_error("cuda:%d does not exist (%d CUDA devices)", device, n);
  char what[32];
  snprintf(what, sizeof what, "cuda:%d", device);
  if (oml_cuda_ok(cudaSetDevice(device), what)) return -1;
  current = device;
  return 0;
}

extern "C" void *oml_cuda_malloc(int64_t nbytes, int32_t device) {
  if (oml_cuda_use(device)) return NULL;
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, nbytes > 0 ? (size_t)nbytes : 1);
  if (e != cudaSuccess) {
    char what[96];
    snprintf(what, sizeof what, "cuda:%d: cannot allocate %lld bytes", device, (long long)nbytes);
    oml_cuda_fail(e, what);
    return NULL;
  }
  return p;
}

extern "C" void oml_cuda_free(void *p, int32_t device) {
  if (p && oml_cuda_use(device) == 0) cudaFree(p);
}

extern "C" int oml_cuda_memcpy(void *dst, int32_t dst_device, const void *src, int32_t src_device, int64_t nbytes) {
  int32_t device = dst_device >= 0 ? dst_device : src_device;
  if (oml_cuda_use(device)) return -1;
  cudaMemcpyKind kind = src_device < 0 ? cudaMemcpyHostToDevice
                        : dst_device < 0 ? cudaMemcpyDeviceToHost
                                         : cudaMemcpyDeviceToDevice;
  char what[64];
  snprintf(what, sizeof what, "copy to or from cuda:%d", device);
  return oml_cuda_ok(cudaMemcpy(dst, src, (size_t)nbytes, kind), what);
}

extern "C" int oml_cuda_sync(int32_t device) {
  if (oml_cuda_use(device)) return -1;
  char what[48];
  snprintf(what, sizeof what, "cuda:%d synchronize", device);
  return oml_cuda_ok(cudaDeviceSynchronize(), what);
}
