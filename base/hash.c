/* base/hash.c: FNV-1a 64 and the splitmix64 finalizer. */
#include "base/hash.h"

#define HASH_FNV1A_PRIME 0x100000001b3ULL

uint64_t
hash_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= HASH_FNV1A_PRIME;
	}
	return h;
}

uint64_t
hash_fnv1a_str(uint64_t h, const char *s)
{
	if (s == NULL)
		return h;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= HASH_FNV1A_PRIME;
	}
	return h;
}

uint64_t
hash_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}
