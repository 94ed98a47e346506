/* base/hash.h: FNV-1a 64, the one hash of names that must stay stable: shard membership and scrape
 * phases are derived from it across restarts and between daemons, and the registries and caches key
 * on it. */
#ifndef HASH_H
#define HASH_H

#include <stddef.h>
#include <stdint.h>

/* The FNV-1a 64 offset basis: the value to start from. */
#define HASH_FNV1A_INIT 0xcbf29ce484222325ULL

/* Continue the FNV-1a 64 hash 'h' over 'n' bytes at 'p' (prime 0x100000001b3). */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n);
/* The same over the bytes of the string 's' without its NUL; NULL counts as "". */
uint64_t hash_fnv1a_str(uint64_t h, const char *s);

/* Spread the bits of 'x' (the splitmix64 finalizer): for open-addressing tables keyed on ids or on
 * FNV-1a hashes, whose high bits FNV mixes poorly. */
uint64_t hash_mix64(uint64_t x);

#endif
