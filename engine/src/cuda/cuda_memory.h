/* cuda/cuda_memory.h — device memory and copies (cuda/memory.cu), for core/. */
#ifndef OML_CUDA_MEMORY_H
#define OML_CUDA_MEMORY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int32_t oml_cuda_count(void);
void *oml_cuda_malloc(int64_t nbytes, int32_t device);
void oml_cuda_free(void *p, int32_t device);
int oml_cuda_memcpy(void *dst, int32_t dst_device, const void *src, int32_t src_device, int64_t nbytes);
int oml_cuda_sync(int32_t device);

#ifdef __cplusplus
}
#endif

#endif
