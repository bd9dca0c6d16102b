/* device.c — device memory and copies; CUDA when built with it. */
#include "internal.h"

#include <string.h>

#ifdef OML_WITH_CUDA
#include "../cuda/cuda_memory.h"

int32_t oml_cuda_compiled(void) { return 1; }
int32_t oml_cuda_device_count(void) { return oml_cuda_count(); }
int oml_cuda_synchronize(int32_t device) { return oml_cuda_sync(device); }
void *oml_device_malloc(int64_t nbytes, int32_t device) { return oml_cuda_malloc(nbytes, device); }
void oml_device_free(void *p, int32_t device) { oml_cuda_free(p, device); }

int oml_device_memcpy(void *dst, int32_t dst_device, const void *src, int32_t src_device, int64_t nbytes) {
  if (dst_device == OML_CPU && src_device == OML_CPU) {
    memcpy(dst, src, (size_t)nbytes);
    return 0;
  }
  return oml_cuda_memcpy(dst, dst_device, src, src_device, nbytes);
}

#else

int32_t oml_cuda_compiled(void) { return 0; }
int32_t oml_cuda_device_count(void) { return 0; }
int oml_cuda_synchronize(int32_t device) { return oml_error("cuda:%d is not available: oml was built without CUDA", device); }
const char *oml_cuda_library_error(int32_t which) {
  (void)which;
  oml_error("oml was built without CUDA");
  return oml_last_error();
}

void *oml_device_malloc(int64_t nbytes, int32_t device) {
  (void)nbytes;
  oml_error("cuda:%d is not available: oml was built without CUDA", device);
  return NULL;
}

void oml_device_free(void *p, int32_t device) { (void)p; (void)device; }

int oml_device_memcpy(void *dst, int32_t dst_device, const void *src, int32_t src_device, int64_t nbytes) {
  if (dst_device != OML_CPU || src_device != OML_CPU)
    return oml_error("cuda is not available: oml was built without CUDA");
  memcpy(dst, src, (size_t)nbytes);
  return 0;
}

#endif

/* ---- CUDA math mode: a setting, kept without CUDA too ---------------------- */

static int32_t cuda_math = OML_MATH_FLOAT32;

int oml_cuda_set_math(int32_t mode) {
  if (mode < OML_MATH_FLOAT32 || mode > OML_MATH_FLOAT16) return oml_error("unknown CUDA math mode %d", mode);
  __atomic_store_n(&cuda_math, mode, __ATOMIC_RELAXED);
  return 0;
}
int32_t oml_cuda_get_math(void) { return __atomic_load_n(&cuda_math, __ATOMIC_RELAXED); }
