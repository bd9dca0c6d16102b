/* ops/loader.c — the data loader's threads and jobs (oml.h, "data loader").
 * A job is one batch; workers claim its items one at a time from a queue of
 * jobs, oldest first, and run cpu/loader.c on each. Every item writes only
 * its own slot of the output and its own error, so the result does not
 * depend on the number of workers or on who ran what. The loader lives until
 * its Lua handle and all its jobs are gone (a reference count), so a job is
 * never left without the threads that finish it. */
#include "../core/internal.h"
#include "../cpu/loader.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_WORKERS 256
#define MAX_SIDE 65535

struct oml_loader {
  pthread_mutex_t lock;
  pthread_cond_t work;          /* a job was queued, or the loader stops */
  pthread_cond_t done;          /* an item finished */
  oml_load_job *head, *tail;    /* jobs with items nobody has claimed */
  pthread_t *threads;
  int32_t n_threads;
  int32_t refs;                 /* the Lua handle and each live job */
  int stop;
  oml_loader_scratch own;       /* the waiting thread's, without workers */
};

struct oml_load_job {
  oml_loader *loader;
  oml_load_job *next;
  int64_t n, claimed, finished; /* items handed out and items done */
  int queued;
  char **paths;                 /* n pointers into one block */
  int64_t *boxes;               /* n * 4, or NULL */
  uint64_t *keys;
  oml_image_recipe recipe;
  oml_tensor out;               /* holds a reference to the output's storage */
  char **errors;                /* n, NULL where the item loaded */
};

/* ---- the queue (called with the lock held) ----------------------------- */

static void dequeue(oml_loader *l, oml_load_job *job) {
  oml_load_job **p = &l->head, *prev = NULL;
  while (*p && *p != job) prev = *p, p = &(*p)->next;
  if (!*p) return;
  *p = job->next;
  if (l->tail == job) l->tail = prev;
  job->next = NULL;
  job->queued = 0;
}

/* The next unclaimed item of the oldest job, or -1. */
static int64_t claim(oml_loader *l, oml_load_job **job) {
  oml_load_job *j = l->head;
  if (!j) return -1;
  int64_t i = j->claimed++;
  if (j->claimed == j->n) dequeue(l, j);
  *job = j;
  return i;
}

static void run_item(oml_loader_scratch *s, oml_load_job *job, int64_t i) {
  const oml_image_recipe *r = &job->recipe;
  float *out = (float *)job->out.data_ + i * 3 * (int64_t)r->height * r->width;
  const int64_t *box = job->boxes && job->boxes[4 * i] >= 0 ? job->boxes + 4 * i : NULL;
  uint64_t key = job->keys ? job->keys[i] : (uint64_t)i;
  if (oml_cpu_load_item(s, job->paths[i], box, key, r, out) == 0) return;
  job->errors[i] = strdup(oml_last_error());
  memset(out, 0, sizeof(float) * 3 * (size_t)r->height * (size_t)r->width);
}

static void finish_item(oml_loader *l, oml_load_job *job) {
  pthread_mutex_lock(&l->lock);
  if (++job->finished == job->claimed) pthread_cond_broadcast(&l->done);
  pthread_mutex_unlock(&l->lock);
}

static void *worker_main(void *arg) {
  oml_loader *l = arg;
  oml_loader_scratch scratch;
  memset(&scratch, 0, sizeof scratch);
  /* the kernels' OpenMP loops stay on this thread: the workers are the parallelism */
  omp_set_num_threads(1);
  pthread_mutex_lock(&l->lock);
  for (;;) {
    oml_load_job *job = NULL;
    int64_t i = -1;
    while (!l->stop && (i = claim(l, &job)) < 0) pthread_cond_wait(&l->work, &l->lock);
    if (l->stop) break;
    pthread_mutex_unlock(&l->lock);
    run_item(&scratch, job, i);
    finish_item(l, job);
    pthread_mutex_lock(&l->lock);
  }
  pthread_mutex_unlock(&l->lock);
  oml_loader_scratch_free(&scratch);
  return NULL;
}

/* ---- the loader -------------------------------------------------------- */

static void loader_destroy(oml_loader *l) {
  pthread_mutex_lock(&l->lock);
  l->stop = 1;
  pthread_cond_broadcast(&l->work);
  pthread_mutex_unlock(&l->lock);
  for (int32_t t = 0; t < l->n_threads; t++) pthread_join(l->threads[t], NULL);
  oml_loader_scratch_free(&l->own);
  pthread_cond_destroy(&l->work);
  pthread_cond_destroy(&l->done);
  pthread_mutex_destroy(&l->lock);
  free(l->threads);
  free(l);
}

oml_loader *oml_loader_new(int32_t num_workers) {
  if (num_workers < 0 || num_workers > MAX_WORKERS) {
    oml_error("num_workers must be in 0..%d (got %d)", MAX_WORKERS, (int)num_workers);
    return NULL;
  }
  oml_loader *l = calloc(1, sizeof *l);
  pthread_t *threads = calloc((size_t)num_workers + 1, sizeof *threads);
  if (!l || !threads) {
    free(l);
    free(threads);
    oml_error("out of memory for a loader");
    return NULL;
  }
  l->threads = threads;
  l->refs = 1;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->work, NULL);
  pthread_cond_init(&l->done, NULL);
  for (; l->n_threads < num_workers; l->n_threads++) {
    int rc = pthread_create(&l->threads[l->n_threads], NULL, worker_main, l);
    if (rc != 0) {
      oml_error("cannot start worker %d of %d: %s", (int)l->n_threads + 1, (int)num_workers, strerror(rc));
      loader_destroy(l);
      return NULL;
    }
  }
  return l;
}

void oml_loader_release(oml_loader *l) {
  if (!l) return;
  pthread_mutex_lock(&l->lock);
  int last = --l->refs == 0;
  pthread_mutex_unlock(&l->lock);
  if (last) loader_destroy(l);
}

/* ---- jobs -------------------------------------------------------------- */

static int check_range(double x, double low, double high, const char *what) {
  if (!(x >= low && x <= high)) return oml_error("%s must be in [%g, %g] (got %g)", what, low, high, x);
  return 0;
}

static int check_recipe(const oml_image_recipe *r) {
  if (!r) return oml_error("no recipe (a NULL pointer)");
  if (r->height < 1 || r->width < 1 || r->height > MAX_SIDE || r->width > MAX_SIDE)
    return oml_error("the output size must be 1..%d on each side (got %dx%d)", MAX_SIDE, (int)r->height,
                     (int)r->width);
  if (r->crop != OML_RECIPE_RESIZE && r->crop != OML_RECIPE_RANDOM_RESIZED_CROP)
    return oml_error("unknown crop mode %d", (int)r->crop);
  if (r->crop == OML_RECIPE_RANDOM_RESIZED_CROP) {
    if (!(r->scale[0] > 0 && r->scale[0] <= r->scale[1] && r->scale[1] <= 1))
      return oml_error("scale must be {low, high} with 0 < low <= high <= 1 (got {%g, %g})", r->scale[0],
                       r->scale[1]);
    if (!(r->ratio[0] > 0 && r->ratio[0] <= r->ratio[1] && isfinite(r->ratio[1])))
      return oml_error("ratio must be {low, high} with 0 < low <= high (got {%g, %g})", r->ratio[0], r->ratio[1]);
  }
  if (check_range(r->flip_p, 0, 1, "the flip probability") || check_range(r->brightness, 0, 1e6, "brightness") ||
      check_range(r->contrast, 0, 1e6, "contrast") || check_range(r->saturation, 0, 1e6, "saturation") ||
      check_range(r->hue, 0, 0.5, "hue"))
    return -1;
  for (int c = 0; c < 3; c++) {
    if (!isfinite(r->mean[c])) return oml_error("mean %d must be finite (got %g)", c + 1, r->mean[c]);
    if (!isfinite(r->std[c]) || r->std[c] <= 0) return oml_error("std %d must be positive (got %g)", c + 1, r->std[c]);
  }
  return 0;
}

static int check_boxes(int64_t n, const int64_t *boxes) {
  for (int64_t i = 0; boxes && i < n; i++) {
    const int64_t *b = boxes + 4 * i;
    if (b[0] == -1 && b[1] == -1 && b[2] == -1 && b[3] == -1) continue;
    if (!(b[0] >= 0 && b[1] >= 0 && b[0] < b[2] && b[1] < b[3] && b[2] <= MAX_SIDE && b[3] <= MAX_SIDE))
      return oml_error("box %lld (x1 %lld, y1 %lld, x2 %lld, y2 %lld) needs 0 <= x1 < x2 and 0 <= y1 < y2",
                       (long long)i + 1, (long long)b[0], (long long)b[1], (long long)b[2], (long long)b[3]);
  }
  return 0;
}

static void job_destroy(oml_load_job *job) {
  for (int64_t i = 0; job->errors && i < job->n; i++) free(job->errors[i]);
  free(job->errors);
  free(job->paths);
  free(job->boxes);
  free(job->keys);
  oml_tensor_release(&job->out);
  free(job);
}

/* Copies the caller's arrays, so that they may go once submit returns. */
static oml_load_job *job_new(int64_t n, const char *const *paths, const int64_t *boxes, const uint64_t *keys) {
  oml_load_job *job = calloc(1, sizeof *job);
  size_t bytes = 0;
  for (int64_t i = 0; i < n; i++) bytes += strlen(paths[i]) + 1;
  char *text = job ? malloc(sizeof(char *) * (size_t)n + bytes) : NULL;
  if (job) {
    job->n = n;
    job->paths = (char **)text;
    job->errors = calloc((size_t)n, sizeof *job->errors);
    job->boxes = boxes ? malloc(sizeof(int64_t) * 4 * (size_t)n) : NULL;
    job->keys = keys ? malloc(sizeof(uint64_t) * (size_t)n) : NULL;
  }
  if (!job || !text || !job->errors || (boxes && !job->boxes) || (keys && !job->keys)) {
    if (job) job_destroy(job);
    oml_error("out of memory for a job of %lld items", (long long)n);
    return NULL;
  }
  char *at = text + sizeof(char *) * (size_t)n;
  for (int64_t i = 0; i < n; i++) {
    size_t len = strlen(paths[i]) + 1;
    memcpy(at, paths[i], len);
    job->paths[i] = at;
    at += len;
  }
  if (boxes) memcpy(job->boxes, boxes, sizeof(int64_t) * 4 * (size_t)n);
  if (keys) memcpy(job->keys, keys, sizeof(uint64_t) * (size_t)n);
  return job;
}

static int check_submit(oml_loader *l, int64_t n, const char *const *paths, const int64_t *boxes,
                        const oml_image_recipe *recipe, oml_tensor *out) {
  if (!l) return oml_error("no loader (a NULL pointer)");
  if (n < 1 || n > ((int64_t)1 << 24)) return oml_error("a job needs 1..%d items (got %lld)", 1 << 24, (long long)n);
  if (!paths) return oml_error("no paths (a NULL pointer)");
  for (int64_t i = 0; i < n; i++)
    if (!paths[i]) return oml_error("path %lld is a NULL pointer", (long long)i + 1);
  if (check_recipe(recipe) || check_boxes(n, boxes)) return -1;
  if (!out) return oml_error("no output tensor (a NULL pointer)");
  if (out->storage_ && (oml_check_cpu(out, "the output") || oml_check_writable(out, "the output"))) return -1;
  int64_t size[4] = {n, 3, recipe->height, recipe->width};
  if (oml_out_prepare(out, 4, size, OML_FLOAT32, OML_CPU)) return -1;
  if (!oml_tensor_is_contiguous(out)) return oml_error("the output must be contiguous");
  return 0;
}

oml_load_job *oml_loader_submit(oml_loader *l, int64_t n, const char *const *paths, const int64_t *boxes,
                                const uint64_t *keys, const oml_image_recipe *recipe, oml_tensor *out) {
  if (check_submit(l, n, paths, boxes, recipe, out)) return NULL;
  oml_load_job *job = job_new(n, paths, boxes, keys);
  if (!job) return NULL;
  job->recipe = *recipe;
  job->out = *out;
  oml_storage_retain(out->storage_);
  job->loader = l;
  pthread_mutex_lock(&l->lock);
  l->refs++;
  job->queued = 1;
  if (l->tail)
    l->tail->next = job;
  else
    l->head = job;
  l->tail = job;
  pthread_cond_broadcast(&l->work);
  pthread_mutex_unlock(&l->lock);
  return job;
}

int64_t oml_load_job_wait(oml_load_job *job) {
  if (!job) return oml_error("no job (a NULL pointer)");
  oml_loader *l = job->loader;
  pthread_mutex_lock(&l->lock);
  if (l->n_threads == 0) { /* no workers: this thread runs the job's items */
    while (job->claimed < job->n) {
      int64_t i = job->claimed++;
      if (job->claimed == job->n) dequeue(l, job);
      pthread_mutex_unlock(&l->lock);
      run_item(&l->own, job, i);
      pthread_mutex_lock(&l->lock);
      job->finished++;
    }
  }
  while (job->finished < job->n) pthread_cond_wait(&l->done, &l->lock);
  pthread_mutex_unlock(&l->lock);
  int64_t failed = 0;
  for (int64_t i = 0; i < job->n; i++) failed += job->errors[i] != NULL;
  return failed;
}

const char *oml_load_job_error(const oml_load_job *job, int64_t i) {
  if (!job || i < 0 || i >= job->n) return "no such item";
  return job->errors[i];
}

void oml_load_job_free(oml_load_job *job) {
  if (!job) return;
  oml_loader *l = job->loader;
  pthread_mutex_lock(&l->lock);
  if (job->queued) dequeue(l, job);
  job->n = job->claimed; /* what nobody started is dropped */
  while (job->finished < job->claimed) pthread_cond_wait(&l->done, &l->lock);
  pthread_mutex_unlock(&l->lock);
  job_destroy(job);
  oml_loader_release(l);
}
