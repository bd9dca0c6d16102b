/* alloc.c — the caching allocator and storages.
 *
 * Fresh pages are slow to touch on these machines (and device allocations
 * are slow everywhere), so freed blocks go to a per-device cache keyed by a
 * rounded size and serve the next request of that size class. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_DEVICES 16
#define NBUCKETS 512
#define ALIGNMENT 64
/* Beyond this, freed CPU blocks go back to the system. */
#define CPU_CACHE_LIMIT ((int64_t)2 << 30)

typedef struct block {
  struct block *next;
  void *ptr;
  int64_t size;
} block;

typedef struct cache {
  block *buckets[NBUCKETS];
  oml_memory_stats stats;
} cache;

static cache caches[MAX_DEVICES + 1];  /* [0] is the CPU, [1 + N] cuda:N */
static block *spare_blocks;            /* unused block records */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static cache *cache_of(int32_t device) {
  return device >= OML_CPU && device < MAX_DEVICES ? &caches[device + 1] : NULL;
}

/* 64-byte granules up to 4 KiB, then four size classes per power of two
 * (at most 25% waste). */
static int64_t size_class(int64_t n) {
  if (n <= ALIGNMENT) return ALIGNMENT;
  if (n <= 4096) return (n + ALIGNMENT - 1) & ~(int64_t)(ALIGNMENT - 1);
  int64_t top = (int64_t)1 << (63 - __builtin_clzll((uint64_t)(n - 1)));
  int64_t step = top / 4;
  if (n > INT64_MAX - step) return n; /* beyond any machine: left as asked, for the allocation to refuse */
  return (n + step - 1) / step * step;
}

static unsigned bucket_of(int64_t size) { return (unsigned)((uint64_t)size * 0x9E3779B97F4A7C15ull >> 55) % NBUCKETS; }

/* NULL with the error set on failure */
static void *system_alloc(int64_t size, int32_t device) {
  if (device != OML_CPU) return oml_device_malloc(size, device);
  /* more than the machine has can never succeed: say so rather than ask */
  int64_t physical = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
  if (physical > 0 && size > physical) {
    oml_error("out of memory: cannot allocate %lld bytes on a machine with %lld bytes of memory", (long long)size,
              (long long)physical);
    return NULL;
  }
  void *p = NULL;
  if (posix_memalign(&p, ALIGNMENT, (size_t)size) == 0) return p;
  oml_error("out of memory: cannot allocate %lld bytes", (long long)size);
  return NULL;
}

static void system_free(void *p, int32_t device) {
  if (device == OML_CPU) free(p);
  else oml_device_free(p, device);
}

/* Returns every cached block of c to the system; lock held. */
static void drain(cache *c, int32_t device) {
  for (int i = 0; i < NBUCKETS; i++) {
    while (c->buckets[i]) {
      block *b = c->buckets[i];
      c->buckets[i] = b->next;
      system_free(b->ptr, device);
      c->stats.cached -= b->size;
      b->next = spare_blocks;
      spare_blocks = b;
    }
  }
}

void *oml_alloc(int64_t nbytes, int32_t device) {
  cache *c = cache_of(device);
  if (c == NULL) { oml_error("no such device %d", device); return NULL; }
  if (nbytes < 0) { oml_error("cannot allocate %lld bytes", (long long)nbytes); return NULL; }
  int64_t size = size_class(nbytes);
  void *p = NULL;
  pthread_mutex_lock(&lock);
  c->stats.allocations++;
  for (block **pb = &c->buckets[bucket_of(size)]; *pb; pb = &(*pb)->next) {
    if ((*pb)->size == size) {
      block *b = *pb;
      *pb = b->next;
      p = b->ptr;
      b->next = spare_blocks;
      spare_blocks = b;
      c->stats.cached -= size;
      c->stats.cache_hits++;
      break;
    }
  }
  if (p == NULL) {
    p = system_alloc(size, device);
    if (p == NULL && c->stats.cached > 0) { /* give the cache back and try once more */
      drain(c, device);
      p = system_alloc(size, device);
    }
  }
  if (p != NULL) {
    c->stats.current += size;
    if (c->stats.current > c->stats.peak) c->stats.peak = c->stats.current;
  }
  pthread_mutex_unlock(&lock);
  return p;
}

void oml_free(void *p, int64_t nbytes, int32_t device) {
  cache *c = cache_of(device);
  if (p == NULL || c == NULL) return;
  int64_t size = size_class(nbytes);
  pthread_mutex_lock(&lock);
  c->stats.current -= size;
  block *b = spare_blocks;
  if (b) spare_blocks = b->next;
  else b = malloc(sizeof *b);
  if (b == NULL || (device == OML_CPU && c->stats.cached + size > CPU_CACHE_LIMIT)) {
    if (b) { b->next = spare_blocks; spare_blocks = b; }
    system_free(p, device);
  } else {
    b->ptr = p;
    b->size = size;
    unsigned k = bucket_of(size);
    b->next = c->buckets[k];
    c->buckets[k] = b;
    c->stats.cached += size;
  }
  pthread_mutex_unlock(&lock);
}

int oml_memory_stats_get(int32_t device, oml_memory_stats *out) {
  cache *c = cache_of(device);
  if (c == NULL) return oml_error("no such device %d", device);
  if (out == NULL) return oml_error("no stats struct to fill");
  pthread_mutex_lock(&lock);
  *out = c->stats;
  pthread_mutex_unlock(&lock);
  return 0;
}

int64_t oml_memory_live_bytes(void) {
  int64_t total = 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; i <= MAX_DEVICES; i++) total += caches[i].stats.current;
  pthread_mutex_unlock(&lock);
  return total;
}

void oml_memory_reset_peak(int32_t device) {
  cache *c = cache_of(device);
  if (c == NULL) return;
  pthread_mutex_lock(&lock);
  c->stats.peak = c->stats.current;
  pthread_mutex_unlock(&lock);
}

void oml_memory_empty_cache(void) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i <= MAX_DEVICES; i++) drain(&caches[i], i - 1);
  while (spare_blocks) {
    block *b = spare_blocks;
    spare_blocks = b->next;
    free(b);
  }
  pthread_mutex_unlock(&lock);
}

/* ---- storages ----------------------------------------------------------- */

oml_storage *oml_storage_new(int64_t nbytes, int32_t device) {
  oml_storage *s = malloc(sizeof *s);
  if (s == NULL) { oml_error("out of memory"); return NULL; }
  s->data = oml_alloc(nbytes, device);
  if (s->data == NULL) { free(s); return NULL; }
  s->nbytes = nbytes;
  s->device = device;
  s->refcount = 1;
  return s;
}

void oml_storage_retain(oml_storage *s) {
  if (s) __atomic_fetch_add(&s->refcount, 1, __ATOMIC_RELAXED);
}

void oml_storage_release(oml_storage *s) {
  if (s && __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
    oml_free(s->data, s->nbytes, s->device);
    free(s);
  }
}

int64_t oml_storage_nbytes(const oml_storage *s) { return s ? s->nbytes : 0; }
int32_t oml_storage_refcount(const oml_storage *s) { return s ? __atomic_load_n(&s->refcount, __ATOMIC_RELAXED) : 0; }
