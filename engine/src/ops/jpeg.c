/* ops/jpeg.c — JPEG decoding and encoding through TurboJPEG (libjpeg-turbo).
 * Images are uint8 [H, W, 3] RGB on the CPU. The decoder trusts nothing in
 * the bytes: every failure, warnings included, is an error carrying
 * TurboJPEG's message, so a truncated or corrupt file never yields a
 * half-grey image. */
#include "../core/internal.h"

#include <limits.h>
#include <turbojpeg.h>

/* JPEG's own limit on a side */
#define JPEG_MAX_SIDE 65535

/* The scaling factor (at most 1/1) whose scaled shorter side is the smallest
 * that is still >= min_side; 1/1 when even that is smaller. */
static tjscalingfactor pick_scale(int width, int height, int32_t min_side) {
  tjscalingfactor best = {1, 1};
  if (min_side <= 0) return best;
  int n = 0;
  const tjscalingfactor *factors = tjGetScalingFactors(&n);
  int best_side = width < height ? width : height;
  for (int i = 0; factors && i < n; i++) {
    tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;
    int w = TJSCALED(width, f), h = TJSCALED(height, f);
    int side = w < h ? w : h;
    if (side >= min_side && side < best_side) {
      best = f;
      best_side = side;
    }
  }
  return best;
}

static int decode_with(tjhandle tj, const uint8_t *bytes, int64_t n, int32_t scale_to_min_side, oml_tensor *out) {
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, bytes, (unsigned long)n, &width, &height, &subsamp, &colorspace))
    return oml_error("not a readable JPEG: %s", tjGetErrorStr2(tj));
  if (width <= 0 || height <= 0 || width > JPEG_MAX_SIDE || height > JPEG_MAX_SIDE)
    return oml_error("not a readable JPEG: the header is truncated or gives the size %dx%d", width, height);
  tjscalingfactor f = pick_scale(width, height, scale_to_min_side);
  int64_t size[3] = {TJSCALED(height, f), TJSCALED(width, f), 3};
  if (oml_out_prepare(out, 3, size, OML_UINT8, OML_CPU)) return -1;
  /* decode straight into a contiguous out, else through a buffer */
  oml_tensor buffer = oml_tensor_unset();
  oml_tensor *target = out;
  if (!oml_tensor_is_contiguous(out)) {
    if (oml_tensor_empty(&buffer, 3, size, OML_UINT8, OML_CPU)) return -1;
    target = &buffer;
  }
  int rc = 0;
  if (tjDecompress2(tj, bytes, (unsigned long)n, (unsigned char *)target->data_, (int)size[1], 0, (int)size[0],
                    TJPF_RGB, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS))
    rc = oml_error("cannot decode the JPEG: %s", tjGetErrorStr2(tj));
  if (rc == 0 && target != out) rc = oml_copy(target, out);
  oml_tensor_release(&buffer);
  return rc;
}

int oml_jpeg_decode(const uint8_t *bytes, int64_t n, int32_t scale_to_min_side, oml_tensor *out) {
  if (!bytes) return oml_error("no JPEG data (a NULL buffer)");
  if (n <= 0) return oml_error("no JPEG data (%lld bytes)", (long long)n);
  if ((uint64_t)n > ULONG_MAX) return oml_error("%lld bytes are too many for a JPEG", (long long)n);
  if (out->storage_ && (oml_check_cpu(out, "the output") || oml_check_writable(out, "the output"))) return -1;
  tjhandle tj = tjInitDecompress();
  if (!tj) return oml_error("cannot start the JPEG decoder: %s", tjGetErrorStr2(NULL));
  int rc = decode_with(tj, bytes, n, scale_to_min_side, out);
  tjDestroy(tj);
  return rc;
}

static int encode_with(tjhandle tj, const oml_tensor *image, int32_t quality, oml_tensor *out) {
  unsigned char *jpeg = NULL;
  unsigned long nbytes = 0;
  if (tjCompress2(tj, (const unsigned char *)image->data_, (int)image->size_[1], 0, (int)image->size_[0], TJPF_RGB,
                  &jpeg, &nbytes, TJSAMP_420, quality, 0)) {
    tjFree(jpeg);
    return oml_error("cannot encode the JPEG: %s", tjGetErrorStr2(tj));
  }
  int64_t size = (int64_t)nbytes;
  int rc = oml_out_prepare(out, 1, &size, OML_UINT8, OML_CPU);
  if (rc == 0) {
    /* out is 1-D: one stride, which may not be 1 */
    for (int64_t i = 0; i < size; i++) out->data_[i * out->stride_[0]] = (char)jpeg[i];
  }
  tjFree(jpeg);
  return rc;
}

int oml_jpeg_encode(const oml_tensor *image, int32_t quality, oml_tensor *out) {
  char shape[OML_SHAPE_BUF];
  if (oml_check_set(image, "the image") || oml_check_cpu(image, "the image")) return -1;
  if (image->dtype_ != OML_UINT8)
    return oml_error("the image must be uint8, not %s", oml_dtype_name(image->dtype_));
  if (image->ndim_ != 3 || image->size_[2] != 3)
    return oml_error("the image must have shape [H,W,3], not %s", oml_shape_str(image, shape));
  if (image->size_[0] < 1 || image->size_[1] < 1 || image->size_[0] > JPEG_MAX_SIDE ||
      image->size_[1] > JPEG_MAX_SIDE)
    return oml_error("a JPEG's sides must be 1..%d, not %s", JPEG_MAX_SIDE, oml_shape_str(image, shape));
  if (quality < 1 || quality > 100) return oml_error("quality must be 1..100, not %d", (int)quality);
  if (out->storage_ && (oml_check_cpu(out, "the output") || oml_check_writable(out, "the output"))) return -1;
  oml_tensor dense = oml_tensor_unset();
  if (oml_tensor_contiguous(image, &dense)) return -1;
  tjhandle tj = tjInitCompress();
  int rc = tj ? encode_with(tj, &dense, quality, out)
              : oml_error("cannot start the JPEG encoder: %s", tjGetErrorStr2(NULL));
  if (tj) tjDestroy(tj);
  oml_tensor_release(&dense);
  return rc;
}
