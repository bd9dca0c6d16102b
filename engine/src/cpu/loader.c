/* cpu/loader.c — one data-loader item (loader.h), built from the image
 * kernels of cpu/image.c. The order is torchvision's: crop, resize, flip,
 * colour jitter, to tensor, normalise; the flip is a mirrored view that the
 * normalisation reads, which costs nothing.
 *
 * Decoding goes through libjpeg-turbo's libjpeg API rather than TurboJPEG's
 * (which, before 3.0, cannot crop): only the crop's rows and iMCU columns,
 * plus a margin, are decoded (jpeg_skip_scanlines, jpeg_crop_scanline), at
 * a DCT scale when the crop allows; TurboJPEG's defaults otherwise (ISLOW
 * DCT, fancy upsampling, stop on a warning, at most 500 scans), so the crop
 * holds the pixels a full decode gives. Rows past the crop are not read, so
 * damage there goes unnoticed. */
#include "loader.h"
#include "image.h"
#include "../core/philox.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

/* A file larger than this is not an image anyone trains on. */
#define MAX_FILE_BYTES ((int64_t)1 << 30)
#define JPEG_MAX_SIDE 65535
/* TurboJPEG's TJFLAG_LIMITSCANS: more scans than this is a denial of service */
#define JPEG_MAX_SCANS 500
/* Scaled pixels decoded around the crop: fancy upsampling reads one chroma
 * sample past an edge, so the crop's own pixels are a full decode's. */
#define CROP_MARGIN 16
/* Counter word 3 of the loader's Philox stream: the generators of
 * core/rng.c leave it 0, so their streams never meet this one. */
#define LOADER_STREAM 0x6C6F6164u
/* Stream blocks of one item: 2 per resized-crop attempt, then the flip and
 * the colour jitter. */
#define CROP_ATTEMPTS 10
#define FLIP_BLOCK (2 * CROP_ATTEMPTS)
#define JITTER_BLOCK (FLIP_BLOCK + 1)

/* A worker's libjpeg decompressor; errors longjmp back to decode_crop. */
struct oml_jpeg_reader {
  struct jpeg_decompress_struct d;
  struct jpeg_error_mgr errors;
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  int header_read; /* which message an error gets */
  char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr c) {
  struct oml_jpeg_reader *j = (struct oml_jpeg_reader *)c->client_data;
  c->err->format_message(c, j->message);
  longjmp(j->jump, 1);
}

/* a warning (corrupt data) stops the decode, as TJFLAG_STOPONWARNING */
static void jpeg_message(j_common_ptr c, int level) {
  if (level < 0) jpeg_fail(c);
}

static void jpeg_count_scans(j_common_ptr c) {
  if (((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS) {
    struct oml_jpeg_reader *j = (struct oml_jpeg_reader *)c->client_data;
    snprintf(j->message, sizeof j->message, "the JPEG has more than %d scans", JPEG_MAX_SCANS);
    longjmp(j->jump, 1);
  }
}

static struct oml_jpeg_reader *jpeg_reader_new(void) {
  struct oml_jpeg_reader *volatile j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->d.err = jpeg_std_error(&j->errors);
  j->errors.error_exit = jpeg_fail;
  j->errors.emit_message = jpeg_message;
  j->progress.progress_monitor = jpeg_count_scans;
  j->d.client_data = j;
  if (setjmp(j->jump)) { /* out of memory in libjpeg's own allocator */
    free(j);
    return NULL;
  }
  jpeg_create_decompress(&j->d);
  j->d.progress = &j->progress;
  return j;
}

void oml_loader_scratch_free(oml_loader_scratch *s) {
  if (s->jpeg) {
    jpeg_destroy_decompress(&s->jpeg->d);
    free(s->jpeg);
  }
  free(s->file);
  free(s->pixels);
  free(s->resized);
  memset(s, 0, sizeof *s);
}

/* Grows *buf to at least n bytes. */
static int reserve(uint8_t **buf, size_t *cap, size_t n) {
  if (n <= *cap) return 0;
  uint8_t *p = realloc(*buf, n);
  if (!p) return oml_error("out of memory for %zu bytes of image data", n);
  *buf = p;
  *cap = n;
  return 0;
}

static int read_file(oml_loader_scratch *s, const char *path, int64_t *n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return oml_error("cannot open the file: %s", strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0)
    rc = oml_error("cannot read the file: %s", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    rc = oml_error("not a regular file");
  else if (st.st_size == 0)
    rc = oml_error("the file is empty");
  else if ((int64_t)st.st_size > MAX_FILE_BYTES)
    rc = oml_error("the file has %lld bytes, more than an image may have", (long long)st.st_size);
  else
    rc = reserve(&s->file, &s->file_cap, (size_t)st.st_size);
  int64_t done = 0;
  while (rc == 0 && done < (int64_t)st.st_size) {
    ssize_t got = read(fd, s->file + done, (size_t)(st.st_size - done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) rc = oml_error("cannot read the file: %s", strerror(errno));
    if (got == 0) rc = oml_error("the file shrank while it was read");
    if (got > 0) done += got;
  }
  close(fd);
  *n = done;
  return rc;
}

/* Two uniforms in [0, 1) from block `block` of the item's stream. */
static void item_uniforms(uint64_t seed, uint64_t key, uint32_t block, double u[2]) {
  const uint32_t c[4] = {block, (uint32_t)key, (uint32_t)(key >> 32), LOADER_STREAM};
  oml_philox_words w = oml_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
  u[0] = oml_unit_double(w.w[0], w.w[1]);
  u[1] = oml_unit_double(w.w[2], w.w[3]);
}

typedef struct {
  int64_t top, left, height, width;
} box_t;

/* torchvision's RandomResizedCrop.get_params on a region of h x w: up to
 * 10 draws of an area and a log-uniform aspect ratio until the box fits,
 * else the centred box of the clamped ratio. nearbyint rounds half to
 * even, as Python's round. */
static box_t random_crop_box(int64_t h, int64_t w, const oml_image_recipe *r, uint64_t key) {
  double area = (double)h * (double)w, log_low = log(r->ratio[0]), log_high = log(r->ratio[1]);
  for (uint32_t a = 0; a < CROP_ATTEMPTS; a++) {
    double u[4];
    item_uniforms(r->seed, key, 2 * a, u);
    item_uniforms(r->seed, key, 2 * a + 1, u + 2);
    double target = area * (r->scale[0] + (r->scale[1] - r->scale[0]) * u[0]);
    double aspect = exp(log_low + (log_high - log_low) * u[1]);
    int64_t bw = (int64_t)nearbyint(sqrt(target * aspect)), bh = (int64_t)nearbyint(sqrt(target / aspect));
    if (bw > 0 && bw <= w && bh > 0 && bh <= h)
      return (box_t){(int64_t)floor(u[2] * (double)(h - bh + 1)), (int64_t)floor(u[3] * (double)(w - bw + 1)), bh, bw};
  }
  int64_t bh = h, bw = w;
  if ((double)w / (double)h < r->ratio[0])
    bh = (int64_t)nearbyint((double)w / r->ratio[0]);
  else if ((double)w / (double)h > r->ratio[1])
    bw = (int64_t)nearbyint((double)h * r->ratio[1]);
  return (box_t){(h - bh) / 2, (w - bw) / 2, bh, bw};
}

/* A side decoded at DCT scale 1/denom, as libjpeg sizes it. */
static int64_t scaled_side(int64_t side, int denom) { return (side + denom - 1) / denom; }

/* The crop in the pixels of an image decoded at scale 1/denom: edges
 * rounded outwards, so that it still covers the crop. */
static box_t scaled_box(box_t b, int denom, int64_t scaled_h, int64_t scaled_w) {
  int64_t y0 = b.top / denom, x0 = b.left / denom;
  int64_t y1 = scaled_side(b.top + b.height, denom), x1 = scaled_side(b.left + b.width, denom);
  if (y1 > scaled_h) y1 = scaled_h;
  if (x1 > scaled_w) x1 = scaled_w;
  return (box_t){y0, x0, y1 - y0, x1 - x0};
}

/* The smallest DCT scale 1/denom (at most 1/1) at which the crop still has
 * at least the output's height and width. Only 1/2, 1/4 and 1/8:
 * libjpeg-turbo has SIMD code for those, and its other scaled IDCTs are
 * slower than 1/1. */
static int pick_scale(int64_t h, int64_t w, box_t crop, const oml_image_recipe *r) {
  int best = 1;
  for (int denom = 2; r->dct_scaling && denom <= 8; denom *= 2) {
    box_t b = scaled_box(crop, denom, scaled_side(h, denom), scaled_side(w, denom));
    if (b.height >= r->height && b.width >= r->width) best = denom;
  }
  return best;
}

/* ColorJitter: the four adjustments in a random order (the order of four
 * uniforms), each factor uniform in its range; in place on uint8 HWC. */
static void color_jitter(const oml_image_view *img, const oml_image_recipe *r, uint64_t key) {
  double u[8];
  for (uint32_t b = 0; b < 4; b++) item_uniforms(r->seed, key, JITTER_BLOCK + b, u + 2 * b);
  const double amounts[4] = {r->brightness, r->contrast, r->saturation, r->hue};
  int order[4] = {0, 1, 2, 3};
  for (int i = 1; i < 4; i++) /* insertion sort of the order by u[0..3] */
    for (int j = i; j > 0 && u[order[j]] < u[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (int k = 0; k < 4; k++) {
    int i = order[k];
    double amount = amounts[i];
    if (amount <= 0) continue;
    double low = i == 3 ? -amount : fmax(0.0, 1.0 - amount), high = i == 3 ? amount : 1.0 + amount;
    double factor = low + (high - low) * u[4 + i];
    if (i == 3)
      oml_cpu_image_adjust_hue(img, img, factor);
    else if (i == 1)
      oml_cpu_image_blend(img, img, factor, OML_BLEND_MEAN, oml_cpu_image_gray_mean(img));
    else
      oml_cpu_image_blend(img, img, factor, i == 0 ? OML_BLEND_BLACK : OML_BLEND_GRAY, 0.0);
  }
}

static oml_image_view hwc_view(uint8_t *data, int64_t row_pixels, box_t b) {
  return (oml_image_view){(char *)data + (b.top * row_pixels + b.left) * 3, 3, b.height, b.width, 1,
                          row_pixels * 3, 3, OML_UINT8};
}

/* The item's crop (of the box, or a random resized crop of it) decoded
 * into s->pixels: *view is the crop there. The caller aborts the decode. */
static int decode_crop_steps(oml_loader_scratch *s, int64_t nbytes, const int64_t *box, uint64_t key,
                             const oml_image_recipe *r, oml_image_view *view) {
  struct jpeg_decompress_struct *d = &s->jpeg->d;
  jpeg_mem_src(d, s->file, (unsigned long)nbytes);
  jpeg_read_header(d, TRUE);
  int64_t w = d->image_width, h = d->image_height;
  if (w <= 0 || h <= 0 || w > JPEG_MAX_SIDE || h > JPEG_MAX_SIDE)
    return oml_error("not a readable JPEG: the header gives the size %lldx%lld", (long long)w, (long long)h);
  s->jpeg->header_read = 1;

  box_t region = {0, 0, h, w};
  if (box) {
    if (box[2] > w || box[3] > h)
      return oml_error("the box x %lld..%lld, y %lld..%lld is not inside the %lldx%lld image", (long long)box[0],
                       (long long)box[2], (long long)box[1], (long long)box[3], (long long)w, (long long)h);
    region = (box_t){box[1], box[0], box[3] - box[1], box[2] - box[0]};
  }
  box_t crop = region;
  if (r->crop == OML_RECIPE_RANDOM_RESIZED_CROP) {
    crop = random_crop_box(region.height, region.width, r, key);
    crop.top += region.top;
    crop.left += region.left;
  }
  int denom = pick_scale(h, w, crop, r);
  d->scale_num = 1;
  d->scale_denom = (unsigned)denom;
  d->out_color_space = JCS_EXT_RGB;
  jpeg_start_decompress(d);
  int64_t sh = d->output_height, sw = d->output_width;
  box_t want = scaled_box(crop, denom, sh, sw);

  /* the rows and columns to decode: the crop and its margin */
  int64_t y0 = want.top > CROP_MARGIN ? want.top - CROP_MARGIN : 0;
  int64_t y1 = want.top + want.height + CROP_MARGIN < sh ? want.top + want.height + CROP_MARGIN : sh;
  int64_t x0 = want.left > CROP_MARGIN ? want.left - CROP_MARGIN : 0;
  int64_t x1 = want.left + want.width + CROP_MARGIN < sw ? want.left + want.width + CROP_MARGIN : sw;
  JDIMENSION left = (JDIMENSION)x0, width = (JDIMENSION)(x1 - x0);
  if (x0 > 0 || x1 < sw) jpeg_crop_scanline(d, &left, &width); /* widened to iMCU columns */
  int64_t rows = y1 - y0, row_bytes = (int64_t)width * 3;
  if (reserve(&s->pixels, &s->pixels_cap, (size_t)(rows * row_bytes))) return -1;
  if (y0 > 0 && jpeg_skip_scanlines(d, (JDIMENSION)y0) != (JDIMENSION)y0)
    return oml_error("cannot decode the JPEG: rows are missing");
  while ((int64_t)d->output_scanline < y1) {
    JSAMPROW at[16];
    int64_t next = d->output_scanline, n = y1 - next < 16 ? y1 - next : 16;
    for (int64_t i = 0; i < n; i++) at[i] = s->pixels + (next + i - y0) * row_bytes;
    if (jpeg_read_scanlines(d, at, (JDIMENSION)n) == 0) return oml_error("cannot decode the JPEG: rows are missing");
  }
  *view = hwc_view(s->pixels, width, (box_t){want.top - y0, want.left - (int64_t)left, want.height, want.width});
  return 0;
}

static int decode_crop(oml_loader_scratch *s, int64_t nbytes, const int64_t *box, uint64_t key,
                       const oml_image_recipe *r, oml_image_view *view) {
  struct oml_jpeg_reader *j = s->jpeg;
  j->header_read = 0;
  if (setjmp(j->jump)) {
    jpeg_abort_decompress(&j->d);
    return oml_error(j->header_read ? "cannot decode the JPEG: %s" : "not a readable JPEG: %s", j->message);
  }
  int rc = decode_crop_steps(s, nbytes, box, key, r, view);
  jpeg_abort_decompress(&j->d);
  return rc;
}

int oml_cpu_load_item(oml_loader_scratch *s, const char *path, const int64_t *box, uint64_t key,
                      const oml_image_recipe *r, float *out) {
  if (!s->jpeg && !(s->jpeg = jpeg_reader_new())) return oml_error("cannot start the JPEG decoder: out of memory");
  int64_t nbytes = 0;
  if (read_file(s, path, &nbytes)) return -1;
  oml_image_view src;
  if (decode_crop(s, nbytes, box, key, r, &src)) return -1;

  int64_t oh = r->height, ow = r->width;
  if (reserve(&s->resized, &s->resized_cap, (size_t)(oh * ow * 3))) return -1;
  oml_image_view resized = hwc_view(s->resized, ow, (box_t){0, 0, oh, ow});
  if (oml_cpu_image_resize(&src, &resized)) return -1;
  if (r->brightness > 0 || r->contrast > 0 || r->saturation > 0 || r->hue > 0) color_jitter(&resized, r, key);

  double u[2];
  item_uniforms(r->seed, key, FLIP_BLOCK, u);
  if (u[0] < r->flip_p) { /* mirrored: read from the last column backwards */
    resized.data += (ow - 1) * 3;
    resized.wstride = -3;
  }
  oml_image_view dst = {(char *)out, 3, oh, ow, oh * ow * 4, ow * 4, 4, OML_FLOAT32};
  oml_cpu_image_normalize(&resized, &dst, r->mean, r->std);
  return 0;
}
