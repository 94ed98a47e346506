/* base/format.c: profile format names. */
#include <string.h>

#include "base/format.h"

const char *
format_name(enum profile_format f)
{
	switch (f) {
	case PROFILE_FORMAT_DEBUG2:
		return "debug=2";
	case PROFILE_FORMAT_DEBUG1:
		return "debug=1";
	case PROFILE_FORMAT_PROTO:
		return "proto";
	case PROFILE_FORMAT_UNKNOWN:
		break;
	}
	return "unknown";
}

int
format_parse(const char *s, enum profile_format *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "proto") == 0 || strcmp(s, "debug=0") == 0)
		*out = PROFILE_FORMAT_PROTO;
	else if (strcmp(s, "debug=1") == 0)
		*out = PROFILE_FORMAT_DEBUG1;
	else if (strcmp(s, "debug=2") == 0)
		*out = PROFILE_FORMAT_DEBUG2;
	else
		return -1;
	return 0;
}

int
format_debug(enum profile_format f)
{
	return f == PROFILE_FORMAT_DEBUG2 ? 2 : f == PROFILE_FORMAT_DEBUG1 ? 1 : 0;
}
