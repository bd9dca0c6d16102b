/* alloc.c — the caching allocator and storages.
 *
 * Fresh pages are slow to touch on these machines (and device allocations
 * are slow everywhere), so freed memory is kept per device and reused:
 * - small blocks (below LARGE_MIN) go to buckets keyed by a rounded size
 *   class and serve the next request of that class;
 * - large blocks are cut from segments (on the CPU, one arena of reserved
 *   address space): a request takes the lowest free chunk that holds it and
 *   leaves the rest free, and a freed chunk merges with free neighbours. A
 *   step whose tensors vary in size then reuses the same memory instead of
 *   keeping a block per size, and the process holds little more than its
 *   peak of live tensors. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_DEVICES 16
#define NBUCKETS 512
#define ALIGNMENT 64
#define LARGE_MIN ((int64_t)1 << 20)
#define LARGE_ROUND ((int64_t)64 << 10)
#define SEGMENT_ROUND ((int64_t)2 << 20)
#define CHUNK_HASH 1024
/* Beyond this, free CPU memory goes back to the system. */
#define CPU_CACHE_LIMIT ((int64_t)2 << 30)

typedef struct block {
  struct block *next;
  void *ptr;
  int64_t size;
} block;

/* A piece of a large segment: neighbours by address within the segment, and
 * a link in the free list or in the hash of chunks in use. */
typedef struct chunk {
  char *ptr;
  int64_t size;
  struct chunk *prev, *next;
  struct chunk *link;
  int is_free;
} chunk;

typedef struct cache {
  block *buckets[NBUCKETS];
  chunk *free_chunks;
  chunk *used_chunks[CHUNK_HASH];
  oml_memory_stats stats;
} cache;

static cache caches[MAX_DEVICES + 1];  /* [0] is the CPU, [1 + N] cuda:N */
static block *spare_blocks;            /* unused block records */
static chunk *spare_chunks;            /* unused chunk records */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static cache *cache_of(int32_t device) {
  return device >= OML_CPU && device < MAX_DEVICES ? &caches[device + 1] : NULL;
}

/* 64-byte granules up to 4 KiB, then four size classes per power of two
 * (at most 25% waste); large requests round to 64 KiB. */
static int64_t size_class(int64_t n) {
  if (n <= ALIGNMENT) return ALIGNMENT;
  if (n <= 4096) return (n + ALIGNMENT - 1) & ~(int64_t)(ALIGNMENT - 1);
  if (n >= LARGE_MIN) return n > INT64_MAX - LARGE_ROUND ? n : (n + LARGE_ROUND - 1) / LARGE_ROUND * LARGE_ROUND;
  int64_t top = (int64_t)1 << (63 - __builtin_clzll((uint64_t)(n - 1)));
  int64_t step = top / 4;
  return (n + step - 1) / step * step;
}

static unsigned bucket_of(int64_t size) { return (unsigned)((uint64_t)size * 0x9E3779B97F4A7C15ull >> 55) % NBUCKETS; }
static unsigned chunk_hash(const void *p) { return (unsigned)(((uintptr_t)p >> 16) * 0x9E3779B97F4A7C15ull >> 54) % CHUNK_HASH; }

/* NULL with the error set on failure */
static void *system_alloc(int64_t size, int32_t device) {
  if (device != OML_CPU) return oml_device_malloc(size, device);
  void *p = NULL;
  if (posix_memalign(&p, ALIGNMENT, (size_t)size) == 0) return p;
  oml_error("out of memory: cannot allocate %lld bytes", (long long)size);
  return NULL;
}

static void system_free(void *p, int32_t device) {
  if (device == OML_CPU) free(p);
  else oml_device_free(p, device);
}

/* ---- small blocks: exact size classes (lock held) ------------------------- */

static void *take_block(cache *c, int64_t size) {
  for (block **pb = &c->buckets[bucket_of(size)]; *pb; pb = &(*pb)->next) {
    if ((*pb)->size == size) {
      block *b = *pb;
      *pb = b->next;
      void *p = b->ptr;
      b->next = spare_blocks;
      spare_blocks = b;
      c->stats.cached -= size;
      return p;
    }
  }
  return NULL;
}

/* 0 when the block was kept, -1 when there was no record for it */
static int keep_block(cache *c, void *p, int64_t size) {
  block *b = spare_blocks;
  if (b) spare_blocks = b->next;
  else if ((b = malloc(sizeof *b)) == NULL) return -1;
  b->ptr = p;
  b->size = size;
  unsigned k = bucket_of(size);
  b->next = c->buckets[k];
  c->buckets[k] = b;
  c->stats.cached += size;
  return 0;
}

/* ---- large chunks: first fit by address in segments (lock held) ----------
 * The free list is kept in address order and a request takes the lowest
 * chunk that holds it, so that use packs at low addresses and the pages
 * ever touched stay close to the peak of live memory. On the CPU the
 * segments live in one arena reserved up front (address space only; pages
 * are committed when touched), so that any two free neighbours merge. */

static chunk *new_chunk(char *ptr, int64_t size) {
  chunk *k = spare_chunks;
  if (k) spare_chunks = k->link;
  else if ((k = malloc(sizeof *k)) == NULL) return NULL;
  k->ptr = ptr;
  k->size = size;
  k->prev = k->next = k->link = NULL;
  k->is_free = 1;
  return k;
}

static void drop_chunk(chunk *k) {
  k->link = spare_chunks;
  spare_chunks = k;
}

static void unlink_free(cache *c, chunk *k) {
  for (chunk **pk = &c->free_chunks; *pk; pk = &(*pk)->link)
    if (*pk == k) {
      *pk = k->link;
      return;
    }
}

static void link_free(cache *c, chunk *k) {
  chunk **pk = &c->free_chunks;
  while (*pk && (*pk)->ptr < k->ptr) pk = &(*pk)->link;
  k->link = *pk;
  *pk = k;
}

static char *arena;          /* the CPU's reserved address space, or NULL */
static int64_t arena_size;
static int arena_tried;
static int64_t arena_live;   /* bytes of the arena in use */
static int64_t arena_high;   /* the end of the highest chunk used since the last trim: pages touched */
static int64_t arena_slack;  /* arena_high - arena_live right after the last trim */

static int in_arena(const chunk *k) { return arena && k->ptr >= arena && k->ptr < arena + arena_size; }

/* Gives the pages of the arena's free chunks back to the system (they read
 * as zeros when touched again), and lowers the high-water mark to the end
 * of the highest chunk in use. */
static void trim_arena(cache *c) {
  for (chunk *k = c->free_chunks; k; k = k->link)
    if (in_arena(k)) madvise(k->ptr, (size_t)k->size, MADV_DONTNEED);
  arena_high = 0;
  for (int i = 0; i < CHUNK_HASH; i++)
    for (chunk *k = c->used_chunks[i]; k; k = k->link)
      if (in_arena(k) && k->ptr + k->size - arena > arena_high) arena_high = k->ptr + k->size - arena;
  arena_slack = arena_high - arena_live;
}

/* Reserves the CPU arena: as much address space as the machine has memory. */
static void reserve_arena(cache *c) {
  arena_tried = 1;
  int64_t physical = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
  if (physical <= 0) return;
  int64_t size = physical / SEGMENT_ROUND * SEGMENT_ROUND;
  void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  chunk *k = new_chunk(p, size);
  if (k == NULL) {
    munmap(p, (size_t)size);
    return;
  }
  arena = p;
  arena_size = size;
  link_free(c, k);
}

/* Whole free segments (a free chunk without neighbours, outside the arena)
 * go back to the system until at most `keep` bytes stay cached. */
static void release_segments(cache *c, int32_t device, int64_t keep) {
  for (chunk **pk = &c->free_chunks; *pk && c->stats.cached > keep;) {
    chunk *k = *pk;
    if (!in_arena(k) && k->prev == NULL && k->next == NULL) {
      *pk = k->link;
      system_free(k->ptr, device);
      c->stats.cached -= k->size;
      drop_chunk(k);
    } else {
      pk = &k->link;
    }
  }
}

static void *take_chunk(cache *c, int64_t size, int32_t device) {
  if (device == OML_CPU && !arena_tried) reserve_arena(c);
  chunk *fit = c->free_chunks;
  while (fit && fit->size < size) fit = fit->link;
  if (fit) c->stats.cache_hits++;
  else {
    int64_t seg = size > INT64_MAX - SEGMENT_ROUND ? size : (size + SEGMENT_ROUND - 1) / SEGMENT_ROUND * SEGMENT_ROUND;
    char *p = system_alloc(seg, device);
    if (p == NULL) return NULL;
    if ((fit = new_chunk(p, seg)) == NULL) {
      system_free(p, device);
      oml_error("out of memory");
      return NULL;
    }
    c->stats.cached += seg;
    link_free(c, fit);
  }
  if (fit->size - size >= LARGE_MIN) { /* the rest stays free, in fit's place in the list */
    chunk *rest = new_chunk(fit->ptr + size, fit->size - size);
    if (rest) {
      rest->prev = fit;
      rest->next = fit->next;
      if (fit->next) fit->next->prev = rest;
      fit->next = rest;
      fit->size = size;
      rest->link = fit->link;
      fit->link = rest;
    }
  }
  unlink_free(c, fit);
  fit->is_free = 0;
  if (in_arena(fit)) {
    arena_live += fit->size;
    if (fit->ptr + fit->size - arena > arena_high) arena_high = fit->ptr + fit->size - arena;
  } else {
    c->stats.cached -= fit->size;
  }
  unsigned h = chunk_hash(fit->ptr);
  fit->link = c->used_chunks[h];
  c->used_chunks[h] = fit;
  return fit->ptr;
}

/* Marks p's chunk free, merged with free neighbours; its size, or 0 when p
 * is not a chunk in use. */
static int64_t give_chunk(cache *c, void *p) {
  chunk *k = NULL;
  for (chunk **pk = &c->used_chunks[chunk_hash(p)]; *pk; pk = &(*pk)->link)
    if ((*pk)->ptr == p) {
      k = *pk;
      *pk = k->link;
      break;
    }
  if (k == NULL) return 0;
  int64_t size = k->size;
  if (in_arena(k)) arena_live -= size;
  else c->stats.cached += size;
  k->is_free = 1;
  chunk *n = k->next;
  if (n && n->is_free) { /* absorb the next chunk */
    unlink_free(c, n);
    k->size += n->size;
    k->next = n->next;
    if (n->next) n->next->prev = k;
    drop_chunk(n);
  }
  chunk *prev = k->prev;
  if (prev && prev->is_free) { /* the previous chunk absorbs this one */
    prev->size += k->size;
    prev->next = k->next;
    if (k->next) k->next->prev = prev;
    drop_chunk(k);
    return size;
  }
  link_free(c, k);
  return size;
}

/* Returns every cached block and whole free segment of c to the system. */
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
  release_segments(c, device, 0);
  if (device == OML_CPU) trim_arena(c);
}

void *oml_alloc(int64_t nbytes, int32_t device) {
  cache *c = cache_of(device);
  if (c == NULL) { oml_error("no such device %d", device); return NULL; }
  if (nbytes < 0) { oml_error("cannot allocate %lld bytes", (long long)nbytes); return NULL; }
  /* more than the machine has can never succeed: say so rather than ask */
  static int64_t physical;
  if (physical == 0) physical = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
  if (device == OML_CPU && physical > 0 && nbytes > physical) {
    oml_error("out of memory: cannot allocate %lld bytes on a machine with %lld bytes of memory", (long long)nbytes,
              (long long)physical);
    return NULL;
  }
  int64_t size = size_class(nbytes);
  int large = size >= LARGE_MIN;
  pthread_mutex_lock(&lock);
  c->stats.allocations++;
  void *p = large ? take_chunk(c, size, device) : take_block(c, size);
  if (p && !large) c->stats.cache_hits++;
  if (p == NULL && !large) p = system_alloc(size, device);
  if (p == NULL && c->stats.cached > 0) { /* give the cache back and try once more */
    drain(c, device);
    p = large ? take_chunk(c, size, device) : system_alloc(size, device);
  }
  if (p != NULL) {
    c->stats.current += size;
    if (c->stats.current > c->stats.peak) c->stats.peak = c->stats.current;
  } else if (device != OML_CPU) {
    char held[160];
    snprintf(held, sizeof held, "%s (oml holds %lld bytes in tensors on cuda:%d)", oml_last_error(),
             (long long)c->stats.current, device);
    oml_error("%s", held);
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
  if (size >= LARGE_MIN) {
    give_chunk(c, p);
    if (device == OML_CPU && c->stats.cached > CPU_CACHE_LIMIT) release_segments(c, device, CPU_CACHE_LIMIT);
    if (device == OML_CPU && arena_high - arena_live > arena_slack + CPU_CACHE_LIMIT) trim_arena(c);
  } else if ((device == OML_CPU && c->stats.cached + size > CPU_CACHE_LIMIT) || keep_block(c, p, size)) {
    system_free(p, device);
  }
  pthread_mutex_unlock(&lock);
}

int oml_memory_stats_get(int32_t device, oml_memory_stats *out) {
  cache *c = cache_of(device);
  if (c == NULL) return oml_error("no such device %d", device);
  if (out == NULL) return oml_error("no stats struct to fill");
  pthread_mutex_lock(&lock);
  *out = c->stats;
  int64_t untrimmed = arena_high - arena_live - arena_slack; /* arena pages touched since the last trim, free now */
  if (device == OML_CPU && untrimmed > 0) out->cached += untrimmed;
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
  while (spare_chunks) {
    chunk *k = spare_chunks;
    spare_chunks = k->link;
    free(k);
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
