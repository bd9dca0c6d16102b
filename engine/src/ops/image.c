/* ops/image.c — image transforms: resize, crop, horizontal flip, padding and
 * normalisation. An image is uint8 [H, W, 3] (HWC, as the JPEG decoder
 * gives it) or float32 [3, H, W] (CHW, as normalize gives it); each op keeps
 * the layout, except normalize (uint8 HWC -> float32 CHW). Inputs may be
 * any strided view; the kernels read them through per-axis strides. */
#include "../core/internal.h"
#include "../cpu/image.h"

#include <math.h>

/* Checks that t is an image and describes it as [C, H, W]. */
static int image_view_of(const oml_tensor *t, const char *what, oml_image_view *v) {
  char buf[OML_SHAPE_BUF];
  if (oml_check_set(t, what) || oml_check_cpu(t, what)) return -1;
  int hwc = t->dtype_ == OML_UINT8 && t->ndim_ == 3 && t->size_[2] == 3;
  int chw = t->dtype_ == OML_FLOAT32 && t->ndim_ == 3 && t->size_[0] == 3;
  if (!hwc && !chw)
    return oml_error("%s must be uint8 [H,W,3] or float32 [3,H,W] (got a %s tensor of size %s)", what,
                     t->dtype_ == OML_UINT8 ? "uint8" : t->dtype_ == OML_FLOAT32 ? "float32" : "non-image",
                     oml_shape_str(t, buf));
  int c = hwc ? 2 : 0, h = hwc ? 0 : 1, w = hwc ? 1 : 2;
  int64_t size = t->dtype_ == OML_UINT8 ? 1 : 4;
  *v = (oml_image_view){t->data_, t->size_[c], t->size_[h], t->size_[w],
                        t->stride_[c] * size, t->stride_[h] * size, t->stride_[w] * size, t->dtype_};
  if (v->height == 0 || v->width == 0) return oml_error("%s is empty (shape %s)", what, oml_shape_str(t, buf));
  return 0;
}

/* Prepares out as an image like src's layout with the given height and
 * width, apart from image, and describes it. */
static int out_view_of(const oml_tensor *image, oml_tensor *out, int32_t dtype, int64_t height, int64_t width,
                       oml_image_view *v) {
  if (out->storage_ && (oml_check_cpu(out, "the output") || oml_check_writable(out, "the output"))) return -1;
  /* oml_may_overlap lets the very same view pass; no op here works in place */
  if (out->storage_ && (oml_may_overlap(image, out) || out->data_ == image->data_))
    return oml_error("the output overlaps the image");
  int64_t hwc[3] = {height, width, 3}, chw[3] = {3, height, width};
  if (oml_out_prepare(out, 3, dtype == OML_UINT8 ? hwc : chw, dtype, OML_CPU)) return -1;
  return image_view_of(out, "the output", v);
}

static int check_size(int64_t height, int64_t width, const char *what) {
  if (height <= 0 || width <= 0)
    return oml_error("the %s size must be positive (got %lldx%lld)", what, (long long)height, (long long)width);
  if (height > (1 << 24) || width > (1 << 24))
    return oml_error("the %s size %lldx%lld is too large", what, (long long)height, (long long)width);
  return 0;
}

int oml_image_resize(const oml_tensor *image, oml_tensor *out, int64_t height, int64_t width) {
  oml_image_view src, dst;
  if (image_view_of(image, "the image", &src) || check_size(height, width, "target")) return -1;
  if (out_view_of(image, out, image->dtype_, height, width, &dst)) return -1;
  return oml_cpu_image_resize(&src, &dst);
}

int oml_image_crop(const oml_tensor *image, oml_tensor *out, int64_t top, int64_t left, int64_t height,
                   int64_t width) {
  oml_image_view src, dst;
  if (image_view_of(image, "the image", &src) || check_size(height, width, "crop")) return -1;
  if (top < 0 || left < 0 || top > src.height - height || left > src.width - width)
    return oml_error("the box of %lldx%lld at row %lld, column %lld is not inside the %lldx%lld image",
                     (long long)height, (long long)width, (long long)top + 1, (long long)left + 1,
                     (long long)src.height, (long long)src.width);
  if (out_view_of(image, out, image->dtype_, height, width, &dst)) return -1;
  oml_cpu_image_crop(&src, &dst, top, left);
  return 0;
}

int oml_image_hflip(const oml_tensor *image, oml_tensor *out) {
  oml_image_view src, dst;
  if (image_view_of(image, "the image", &src)) return -1;
  if (out_view_of(image, out, image->dtype_, src.height, src.width, &dst)) return -1;
  oml_cpu_image_hflip(&src, &dst);
  return 0;
}

int oml_image_pad(const oml_tensor *image, oml_tensor *out, int64_t top, int64_t bottom, int64_t left, int64_t right,
                  double value) {
  oml_image_view src, dst;
  if (image_view_of(image, "the image", &src)) return -1;
  if (top < 0 || bottom < 0 || left < 0 || right < 0)
    return oml_error("padding must be non-negative (got top %lld, bottom %lld, left %lld, right %lld)",
                     (long long)top, (long long)bottom, (long long)left, (long long)right);
  if (top > (1 << 24) || bottom > (1 << 24) || left > (1 << 24) || right > (1 << 24))
    return oml_error("padding of more than %d pixels", 1 << 24);
  if (!isfinite(value)) return oml_error("the fill value must be finite (got %g)", value);
  if (image->dtype_ == OML_UINT8 && (value < 0 || value > 255 || value != floor(value)))
    return oml_error("the fill value of a uint8 image must be an integer in 0..255 (got %g)", value);
  if (out_view_of(image, out, image->dtype_, src.height + top + bottom, src.width + left + right, &dst)) return -1;
  oml_cpu_image_pad(&src, &dst, top, left, value);
  return 0;
}

int oml_image_normalize(const oml_tensor *image, oml_tensor *out, const double *mean, const double *std) {
  oml_image_view src, dst;
  if (image_view_of(image, "the image", &src)) return -1;
  if (image->dtype_ != OML_UINT8) return oml_error("the image must be uint8 [H,W,3] (got float32 [3,H,W])");
  if (!mean || !std) return oml_error("mean and std must hold 3 values");
  for (int c = 0; c < 3; c++) {
    if (!isfinite(mean[c])) return oml_error("mean %d must be finite (got %g)", c + 1, mean[c]);
    if (!isfinite(std[c]) || std[c] <= 0) return oml_error("std %d must be positive (got %g)", c + 1, std[c]);
  }
  if (out_view_of(image, out, OML_FLOAT32, src.height, src.width, &dst)) return -1;
  oml_cpu_image_normalize(&src, &dst, mean, std);
  return 0;
}

/* ---- colour: uint8 HWC only (torchvision's ColorJitter works on images
 * before normalisation) ---------------------------------------------------- */

static int colour_views(const oml_tensor *image, oml_tensor *out, double factor, const char *what,
                        oml_image_view *src, oml_image_view *dst) {
  if (image_view_of(image, "the image", src)) return -1;
  if (image->dtype_ != OML_UINT8) return oml_error("the image must be uint8 [H,W,3] (got float32 [3,H,W])");
  if (!isfinite(factor)) return oml_error("the %s must be finite (got %g)", what, factor);
  return out_view_of(image, out, OML_UINT8, src->height, src->width, dst);
}

static int blend(const oml_tensor *image, oml_tensor *out, double factor, int other, const char *what) {
  oml_image_view src, dst;
  if (colour_views(image, out, factor, what, &src, &dst)) return -1;
  if (factor < 0) return oml_error("the %s must be non-negative (got %g)", what, factor);
  double mean = other == OML_BLEND_MEAN ? oml_cpu_image_gray_mean(&src) : 0.0;
  oml_cpu_image_blend(&src, &dst, factor, other, mean);
  return 0;
}

int oml_image_adjust_brightness(const oml_tensor *image, oml_tensor *out, double factor) {
  return blend(image, out, factor, OML_BLEND_BLACK, "brightness factor");
}

int oml_image_adjust_contrast(const oml_tensor *image, oml_tensor *out, double factor) {
  return blend(image, out, factor, OML_BLEND_MEAN, "contrast factor");
}

int oml_image_adjust_saturation(const oml_tensor *image, oml_tensor *out, double factor) {
  return blend(image, out, factor, OML_BLEND_GRAY, "saturation factor");
}

int oml_image_adjust_hue(const oml_tensor *image, oml_tensor *out, double shift) {
  oml_image_view src, dst;
  if (colour_views(image, out, shift, "hue shift", &src, &dst)) return -1;
  if (shift < -0.5 || shift > 0.5) return oml_error("the hue shift must be in [-0.5, 0.5] (got %g)", shift);
  oml_cpu_image_adjust_hue(&src, &dst, shift);
  return 0;
}
