/* cpu/loader.h — one item of a data-loader job: read a JPEG file, decode it
 * (DCT-scaled when the crop allows), crop, resize, flip, jitter and
 * normalise into a float32 [3, H, W] slot. Runs on a worker thread: it
 * touches no Lua, no tensor storage and no OpenMP team of its own. */
#ifndef OML_CPU_LOADER_H
#define OML_CPU_LOADER_H

#include "../core/internal.h"

/* A worker's buffers and decoder, reused from item to item. */
typedef struct oml_loader_scratch {
  struct oml_jpeg_reader *jpeg;  /* libjpeg's decompressor, made on first use */
  uint8_t *file, *pixels, *resized;
  size_t file_cap, pixels_cap, resized_cap;
} oml_loader_scratch;

void oml_loader_scratch_free(oml_loader_scratch *s);

/* box: x1, y1, x2, y2 or NULL; out: [3, r->height, r->width] contiguous.
 * -1 with the reason in oml_last_error(). */
int oml_cpu_load_item(oml_loader_scratch *s, const char *path, const int64_t *box, uint64_t key,
                      const oml_image_recipe *r, float *out);

#endif /* OML_CPU_LOADER_H */
