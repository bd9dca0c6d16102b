/* error.c — the thread-local error message and shape formatting. */
#include "internal.h"

#include <stdio.h>

static _Thread_local char last_error[1024];

const char *oml_last_error(void) { return last_error; }

int oml_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return -1;
}

const char *oml_sizes_str(int32_t ndim, const int64_t *size, char *buf) {
  int n = snprintf(buf, OML_SHAPE_BUF, "[");
  for (int32_t d = 0; d < ndim && n < OML_SHAPE_BUF; d++)
    n += snprintf(buf + n, OML_SHAPE_BUF - n, d ? ",%lld" : "%lld", (long long)size[d]);
  if (n < OML_SHAPE_BUF) snprintf(buf + n, OML_SHAPE_BUF - n, "]");
  return buf;
}

const char *oml_shape_str(const oml_tensor *t, char *buf) {
  return oml_sizes_str(t->ndim_, t->size_, buf);
}

int oml_check_set(const oml_tensor *t, const char *what) {
  if (t == NULL || t->storage_ == NULL) return oml_error("%s is an unset tensor", what);
  return 0;
}

int oml_check_cpu(const oml_tensor *t, const char *what) {
  if (oml_check_set(t, what)) return -1;
  if (t->device_ != OML_CPU)
    return oml_error("%s is on cuda:%d; this op runs on the CPU only for now", what, t->device_);
  return 0;
}

int oml_check_math(const oml_tensor *t, const char *what) {
  if (oml_check_set(t, what)) return -1;
  if (t->dtype_ == OML_FLOAT16 || t->dtype_ == OML_BFLOAT16)
    return oml_error("%s is %s, a storage-only dtype; convert it to float32 first", what,
                     oml_dtype_name(t->dtype_));
  return 0;
}

/* "cpu" or "cuda:N" into buf */
static const char *device_str(int32_t device, char *buf, size_t n) {
  if (device == OML_CPU) snprintf(buf, n, "cpu");
  else snprintf(buf, n, "cuda:%d", device);
  return buf;
}

/* "on the CPU" or "on cuda:N" into buf */
static const char *device_words(int32_t device, char *buf, size_t n) {
  if (device == OML_CPU) snprintf(buf, n, "on the CPU");
  else snprintf(buf, n, "on cuda:%d", device);
  return buf;
}

int oml_check_device(const oml_tensor *t, const char *what, const oml_tensor *ref, const char *ref_what) {
  if (oml_check_set(t, what)) return -1;
  if (t->device_ == ref->device_) return 0;
  char a[32], b[32];
  return oml_error("%s is %s but %s is %s", what, device_words(t->device_, a, sizeof a), ref_what,
                   device_words(ref->device_, b, sizeof b));
}

int oml_check_same_device(const oml_tensor *a, const oml_tensor *b) {
  char da[16], db[16];
  if (a->device_ != b->device_)
    return oml_error("tensors are on different devices (%s and %s)", device_str(a->device_, da, sizeof da),
                     device_str(b->device_, db, sizeof db));
  return 0;
}

int oml_check_dim(int32_t dim, int32_t ndim) {
  int32_t n = ndim > 0 ? ndim : 1;
  if (dim < 0 || dim >= n) return oml_error("dim %d is out of range for a %d-d tensor", dim + 1, ndim);
  return 0;
}

int oml_check_index_dtype(const oml_tensor *index, const char *what) {
  if (oml_check_set(index, what)) return -1;
  if (index->dtype_ != OML_INT32 && index->dtype_ != OML_INT64)
    return oml_error("%s must be an int32 or int64 tensor (got %s)", what, oml_dtype_name(index->dtype_));
  return 0;
}

int oml_check_real(const oml_tensor *t, const char *what) {
  if (oml_check_math(t, what)) return -1;
  if (t->dtype_ != OML_FLOAT32 && t->dtype_ != OML_FLOAT64)
    return oml_error("%s is %s; expected float32 or float64", what, oml_dtype_name(t->dtype_));
  return 0;
}

int oml_check_float(const oml_tensor *t, const char *what) {
  return oml_check_real(t, what) || oml_check_cpu(t, what) ? -1 : 0;
}

int oml_check_apart_outputs(const oml_tensor *values, const oml_tensor *indices) {
  if (values == NULL || indices == NULL) return 0;
  if (values == indices || (values->storage_ != NULL && values->storage_ == indices->storage_))
    return oml_error("the values and indices outputs share storage");
  return 0;
}
