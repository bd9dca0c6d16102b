/* cpu/copy.c — strided copies with dtype conversion, and fills. */
#include "copy.h"

/* Same dtype: moves bytes, one element size at a time. */
static void copy_bytes(char **p, const int64_t *s, int64_t n, void *ctx) {
  int64_t elsize = *(const int64_t *)ctx;
  char *d = p[0];
  const char *a = p[1];
  if (s[0] == elsize && s[1] == elsize) {
    memcpy(d, a, (size_t)(n * elsize));
    return;
  }
  switch (elsize) {
  case 1: for (int64_t i = 0; i < n; i++) d[i * s[0]] = a[i * s[1]]; break;
  case 2: for (int64_t i = 0; i < n; i++) *(uint16_t *)(d + i * s[0]) = *(const uint16_t *)(a + i * s[1]); break;
  case 4: for (int64_t i = 0; i < n; i++) *(uint32_t *)(d + i * s[0]) = *(const uint32_t *)(a + i * s[1]); break;
  default: for (int64_t i = 0; i < n; i++) *(uint64_t *)(d + i * s[0]) = *(const uint64_t *)(a + i * s[1]); break;
  }
}

typedef struct convert_ctx { int32_t src, dst; } convert_ctx;

/* Different dtypes: through a small buffer of doubles, so that the dtype
 * switch runs once per block rather than once per element. */
static void copy_convert(char **p, const int64_t *s, int64_t n, void *ctx) {
  const convert_ctx *c = ctx;
  if (c->src == OML_INT64 && c->dst == OML_FLOAT32) { /* through a double, beyond 2^53 it would round twice */
    for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) = (float)*(const int64_t *)(p[1] + i * s[1]);
    return;
  }
  double buf[256];
  for (int64_t start = 0; start < n; start += 256) {
    int64_t m = n - start < 256 ? n - start : 256;
    const char *a = p[1] + start * s[1];
    char *d = p[0] + start * s[0];
    switch (c->src) {
    case OML_FLOAT32: for (int64_t i = 0; i < m; i++) buf[i] = *(const float *)(a + i * s[1]); break;
    case OML_FLOAT64: for (int64_t i = 0; i < m; i++) buf[i] = *(const double *)(a + i * s[1]); break;
    case OML_INT32: for (int64_t i = 0; i < m; i++) buf[i] = *(const int32_t *)(a + i * s[1]); break;
    case OML_UINT8: for (int64_t i = 0; i < m; i++) buf[i] = *(const uint8_t *)(a + i * s[1]); break;
    default: for (int64_t i = 0; i < m; i++) buf[i] = oml_load(a + i * s[1], c->src); break;
    }
    switch (c->dst) {
    case OML_FLOAT32: for (int64_t i = 0; i < m; i++) *(float *)(d + i * s[0]) = (float)buf[i]; break;
    case OML_FLOAT64: for (int64_t i = 0; i < m; i++) *(double *)(d + i * s[0]) = buf[i]; break;
    default: for (int64_t i = 0; i < m; i++) oml_store(d + i * s[0], c->dst, buf[i]); break;
    }
  }
}

void oml_cpu_copy(const oml_tensor *src, oml_tensor *dst) {
  const oml_tensor *ops[2] = {dst, src};
  if (src->dtype_ == dst->dtype_) {
    int64_t elsize = oml_dtype_size(dst->dtype_);
    oml_foreach(2, ops, copy_bytes, &elsize);
  } else {
    convert_ctx c = {src->dtype_, dst->dtype_};
    oml_foreach(2, ops, copy_convert, &c);
  }
}

typedef struct fill_ctx { int64_t elsize; char value[8]; } fill_ctx;

static void fill_loop(char **p, const int64_t *s, int64_t n, void *ctx) {
  const fill_ctx *c = ctx;
  char *d = p[0];
  switch (c->elsize) {
  case 1: { uint8_t v; memcpy(&v, c->value, 1); for (int64_t i = 0; i < n; i++) *(uint8_t *)(d + i * s[0]) = v; } break;
  case 2: { uint16_t v; memcpy(&v, c->value, 2); for (int64_t i = 0; i < n; i++) *(uint16_t *)(d + i * s[0]) = v; } break;
  case 4: { uint32_t v; memcpy(&v, c->value, 4); for (int64_t i = 0; i < n; i++) *(uint32_t *)(d + i * s[0]) = v; } break;
  default: { uint64_t v; memcpy(&v, c->value, 8); for (int64_t i = 0; i < n; i++) *(uint64_t *)(d + i * s[0]) = v; } break;
  }
}

void oml_cpu_fill(oml_tensor *t, double value) {
  fill_ctx c;
  c.elsize = oml_dtype_size(t->dtype_);
  oml_store(c.value, t->dtype_, value);
  const oml_tensor *ops[1] = {t};
  oml_foreach(1, ops, fill_loop, &c);
}
