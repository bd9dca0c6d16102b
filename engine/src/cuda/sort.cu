/* cuda/sort.cu — sort and topk along a dim on the device.
 *
 * Every element becomes the CPU's order-preserving key (core/sort_math.h,
 * complemented for descending order) paired with its position in its line;
 * CUB's stable segmented sort orders the pairs of each line, so equal keys
 * keep their positions' order: the (key, position) order of the CPU. The
 * first k pairs of each line give the values and 1-based indices (topk is a
 * full sort of each line, then its first k pairs).
 */
#include "sort.h"
#include "cuda_common.cuh"

#include "../core/sort_math.h"

#include <cub/cub.cuh>

/* The element offset of the start of line `line` of a tensor of geometry g,
 * the lines running along dim (oml_line_offset on the device). */
__device__ static inline int64_t line_start(const oml_geom &g, int32_t dim, int64_t line) {
  int64_t off = 0;
  for (int32_t d = g.ndim - 1; d >= 0; d--) {
    if (d == dim) continue;
    off += line % g.size[d] * g.stride[d];
    line /= g.size[d];
  }
  return off;
}

__device__ static inline uint32_t sort_key(float x) { return oml_sort_key_f32(x); }
__device__ static inline uint64_t sort_key(double x) { return oml_sort_key_f64(x); }
__device__ static inline uint32_t sort_key(int32_t x) { return oml_sort_key_i32(x); }
__device__ static inline uint64_t sort_key(int64_t x) { return oml_sort_key_i64(x); }
__device__ static inline uint32_t sort_key(uint8_t x) { return oml_sort_key_u8(x); }
__device__ static inline uint32_t sort_key(bool x) { return oml_sort_key_u8(x); }

/* keys[i] and pos[i] for element j of line l, i = l * n + j */
template <typename T, typename K>
__global__ void keys_kernel(const T *x, oml_geom g, int32_t dim, int64_t n, int64_t total, K flip, K *keys,
                            int32_t *pos) {
  OML_CUDA_LOOP(i, total) {
    const int64_t line = i / n, j = i % n;
    keys[i] = sort_key(x[line_start(g, dim, line) + j * g.stride[dim]]) ^ flip;
    pos[i] = (int32_t)j;
  }
}

/* Line l's pairs are [offsets[l], offsets[l + 1]). */
__global__ void offsets_kernel(int64_t *offsets, int64_t lines, int64_t n) {
  OML_CUDA_LOOP(l, lines + 1) offsets[l] = l * n;
}

/* The first k sorted pairs of each line: values (either output may be NULL). */
template <typename T>
__global__ void take_kernel(const T *x, oml_geom gx, T *values, oml_geom gv, int64_t *indices, oml_geom gi,
                            int32_t dim, int64_t n, int64_t k, const int32_t *pos, int64_t total) {
  OML_CUDA_LOOP(i, total) {
    const int64_t line = i / k, j = i % k, p = pos[line * n + j];
    if (values) values[line_start(gv, dim, line) + j * gv.stride[dim]] = x[line_start(gx, dim, line) + p * gx.stride[dim]];
    if (indices) indices[line_start(gi, dim, line) + j * gi.stride[dim]] = p + 1;
  }
}

/* Scratch buffers that release themselves. */
struct scratch {
  int32_t device;
  void *p[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  int64_t bytes[6] = {0, 0, 0, 0, 0, 0};
  int used = 0;
  explicit scratch(int32_t dev) : device(dev) {}
  void *get(int64_t nbytes) {
    bytes[used] = nbytes > 0 ? nbytes : 1;
    p[used] = oml_alloc(bytes[used], device);
    return p[used++];
  }
  ~scratch() {
    for (int i = 0; i < used; i++)
      if (p[i]) oml_free(p[i], bytes[i], device);
  }
};

template <typename T, typename K>
static int first_pairs_typed(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                             int32_t flip) {
  const int64_t n = a->ndim_ > 0 ? a->size_[dim] : 1, total = a->numel_, lines = total / n;
  scratch s(a->device_);
  K *keys = (K *)s.get(total * (int64_t)sizeof(K)), *keys_out = (K *)s.get(total * (int64_t)sizeof(K));
  int32_t *pos = (int32_t *)s.get(total * 4), *pos_out = (int32_t *)s.get(total * 4);
  int64_t *offsets = (int64_t *)s.get((lines + 1) * 8);
  if (!keys || !keys_out || !pos || !pos_out || !offsets) return -1;

  oml_geom ga = oml_geom_of(a);
  keys_kernel<T, K><<<oml_cuda_blocks(total), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (const T *)a->data_, ga, dim, n, total, flip ? (K)~(K)0 : (K)0, keys, pos);
  if (oml_cuda_launched("a sort's keys")) return -1;
  offsets_kernel<<<oml_cuda_blocks(lines + 1), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(offsets, lines, n);
  if (oml_cuda_launched("a sort's offsets")) return -1;

  size_t temp_bytes = 0;
  if (oml_cuda_ok(cub::DeviceSegmentedSort::StableSortPairs(NULL, temp_bytes, keys, keys_out, pos, pos_out, total,
                                                            lines, offsets, offsets + 1, oml_cuda_stream()),
                  "a sort"))
    return -1;
  void *temp = s.get((int64_t)temp_bytes);
  if (temp == NULL) return -1;
  if (oml_cuda_ok(cub::DeviceSegmentedSort::StableSortPairs(temp, temp_bytes, keys, keys_out, pos, pos_out, total,
                                                            lines, offsets, offsets + 1, oml_cuda_stream()),
                  "a sort"))
    return -1;

  oml_geom gv = values ? oml_geom_of(values) : ga, gi = indices ? oml_geom_of(indices) : ga;
  take_kernel<T><<<oml_cuda_blocks(lines * k), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (const T *)a->data_, ga, values ? (T *)values->data_ : NULL, gv, indices ? (int64_t *)indices->data_ : NULL,
      gi, dim, n, k, pos_out, lines * k);
  return oml_cuda_launched("a sort's results");
}

/* The k first pairs of every line of a along dim, in (key, position) order;
 * flip reverses the key order. */
static int first_pairs(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                       int32_t flip) {
  const int64_t n = a->ndim_ > 0 ? a->size_[dim] : 1;
  if (a->numel_ == 0 || k == 0) return 0;
  if (n > INT32_MAX) return oml_error("cannot sort lines of more than %d elements on a device", INT32_MAX);
  if (oml_cuda_use(a->device_)) return -1;
  switch (a->dtype_) {
  case OML_FLOAT32: return first_pairs_typed<float, uint32_t>(a, values, indices, k, dim, flip);
  case OML_FLOAT64: return first_pairs_typed<double, uint64_t>(a, values, indices, k, dim, flip);
  case OML_INT32: return first_pairs_typed<int32_t, uint32_t>(a, values, indices, k, dim, flip);
  case OML_INT64: return first_pairs_typed<int64_t, uint64_t>(a, values, indices, k, dim, flip);
  case OML_UINT8: return first_pairs_typed<uint8_t, uint32_t>(a, values, indices, k, dim, flip);
  case OML_BOOL: return first_pairs_typed<bool, uint32_t>(a, values, indices, k, dim, flip);
  default: return oml_error("%s has no CUDA kernel", oml_dtype_name(a->dtype_));
  }
}

extern "C" int oml_cuda_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim,
                             int32_t descending) {
  return first_pairs(a, values, indices, a->ndim_ > 0 ? a->size_[dim] : 1, dim, descending);
}

extern "C" int oml_cuda_topk(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                             int32_t largest) {
  return first_pairs(a, values, indices, k, dim, largest);
}
