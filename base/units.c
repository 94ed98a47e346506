/* base/units.c: parsing and formatting durations and sizes (the spellings are in units.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/units.h"

/* Digits at *p → *v, advancing *p. false when there are none or they overflow. */
static bool
units_digits(const char **p, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		*v = *v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	return true;
}

int
units_parse_duration_ms(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		uint64_t v, mult;

		if (!units_digits(&p, &v))
			return -1;
		if (*p == '\0') {
			if (p != s + strspn(s, "0123456789"))
				return -1; /* a bare number only as the whole value: "1h30" is
				              ambiguous */
			mult = 1000;
		} else if (p[0] == 'm' && p[1] == 's') {
			mult = 1;
			p += 2;
		} else {
			switch (*p++) {
			case 's':
				mult = 1000;
				break;
			case 'm':
				mult = 60 * 1000;
				break;
			case 'h':
				mult = 3600 * 1000;
				break;
			case 'd':
				mult = 86400 * 1000;
				break;
			case 'w':
				mult = 7ull * 86400 * 1000;
				break;
			default:
				return -1;
			}
		}
		if (v > (uint64_t)INT64_MAX / mult || total > (uint64_t)INT64_MAX - v * mult)
			return -1;
		total += v * mult;
	}
	*ms = total;
	return 0;
}

int
units_parse_duration(const char *s, uint64_t *seconds)
{
	uint64_t ms;

	if (units_parse_duration_ms(s, &ms) != 0 || ms % 1000 != 0)
		return -1;
	*seconds = ms / 1000;
	return 0;
}

int
units_parse_size(const char *s, uint64_t *bytes)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"b", 1},
	    {"kb", 1000ull},
	    {"mb", 1000ull * 1000},
	    {"gb", 1000ull * 1000 * 1000},
	    {"tb", 1000ull * 1000 * 1000 * 1000},
	    {"kib", 1ull << 10},
	    {"mib", 1ull << 20},
	    {"gib", 1ull << 30},
	    {"tib", 1ull << 40},
	};
	uint64_t v;
	const char *p = s;

	if (s == NULL || !units_digits(&p, &v))
		return -1;
	if (p[0] == ' ' && p[1] != '\0')
		p++; /* "512 KiB", but not "512 " */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].unit) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].mult)
			return -1;
		*bytes = v * units[i].mult;
		return 0;
	}
	return -1;
}

void
units_fmt_duration(uint64_t s, char *buf, size_t n)
{
	if (s && s % 86400 == 0)
		snprintf(buf, n, "%llud", (unsigned long long)(s / 86400));
	else if (s && s % 3600 == 0)
		snprintf(buf, n, "%lluh", (unsigned long long)(s / 3600));
	else if (s && s % 60 == 0)
		snprintf(buf, n, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, n, "%llus", (unsigned long long)s);
}
