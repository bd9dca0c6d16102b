/* cpu/image.h — CPU kernels of the image transforms (arguments already
 * checked by ops/image.c). */
#ifndef OML_CPU_IMAGE_H
#define OML_CPU_IMAGE_H

#include "../core/internal.h"

/* An image seen as [channels, height, width] whatever its layout: byte
 * strides per axis, so that HWC uint8 and CHW float32 share every kernel. */
typedef struct oml_image_view {
  char *data;
  int64_t channels, height, width;
  int64_t cstride, hstride, wstride; /* in bytes */
  int32_t dtype;                     /* OML_UINT8 or OML_FLOAT32 */
} oml_image_view;

/* separable bilinear resize, antialiased when shrinking (PIL's filter);
 * -1 with an error when the scratch buffer cannot be had */
int oml_cpu_image_resize(const oml_image_view *src, const oml_image_view *dst);
/* dst[c][y][x] = src[c][y + top][x + left] */
void oml_cpu_image_crop(const oml_image_view *src, const oml_image_view *dst, int64_t top, int64_t left);
/* dst[c][y][x] = src[c][y][width - 1 - x] */
void oml_cpu_image_hflip(const oml_image_view *src, const oml_image_view *dst);
/* dst is src with value around it: top rows above, left columns before */
void oml_cpu_image_pad(const oml_image_view *src, const oml_image_view *dst, int64_t top, int64_t left, double value);
/* uint8 src -> float32 dst: (x / 255 - mean[c]) / std[c] */
void oml_cpu_image_normalize(const oml_image_view *src, const oml_image_view *dst, const double *mean,
                             const double *std);

/* ---- colour (uint8 HWC only), each as torchvision's tensor functions ---- */

enum { OML_BLEND_BLACK, OML_BLEND_MEAN, OML_BLEND_GRAY };
/* mean of the grayscale image (each gray truncated to uint8 first) */
double oml_cpu_image_gray_mean(const oml_image_view *src);
/* dst = factor * src + (1 - factor) * other, other being black, the value
 * mean, or the pixel's own gray; truncated to uint8 */
void oml_cpu_image_blend(const oml_image_view *src, const oml_image_view *dst, double factor, int other, double mean);
/* hue shifted by shift turns (in [-0.5, 0.5]) through HSV */
void oml_cpu_image_adjust_hue(const oml_image_view *src, const oml_image_view *dst, double shift);

#endif /* OML_CPU_IMAGE_H */
