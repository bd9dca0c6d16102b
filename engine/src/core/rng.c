/* rng.c — the default random generator and its seeding. A generator is only
 * a seed (the Philox key) and an offset (the next unused counter block, see
 * philox.h); each fill reserves its blocks by advancing the offset. */
#include "internal.h"

/* 42 (0x2A) until oml_manual_seed says otherwise: a fresh process draws the
 * same numbers every run, as with a seeded script. */
#define OML_DEFAULT_SEED 42

static oml_generator default_generator = {OML_DEFAULT_SEED, 0};

oml_generator *oml_default_generator(void) { return &default_generator; }

void oml_manual_seed(uint64_t seed) {
  default_generator.seed_ = seed;
  default_generator.offset_ = 0;
}
