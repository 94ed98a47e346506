/* collector/parse_labels.c: pprof labels of one record, as every format prints them, reduced to one
 * canonical label-set string.
 *
 * Go prints a goroutine's labels three ways: debug=1 "# labels: {"k":"v", "k2":"v 2"}" (Go's %q
 * quoting), debug=2 headers of Go 1.26 with GODEBUG=tracebacklabels=1 "labels:{"k": "v"}" and of Go
 * 1.27 "{k: v, k2: "v 2"}" (quoted only when a key or value holds anything but letters, digits,
 * '.', '/' and '_'), and debug=0 sample Labels (key and str string indices). Whatever the form, a
 * set becomes the JSON object of its labels in key order with every key and value cut to
 * PROFILE_MAX_LABEL_BYTES at a character boundary, invalid UTF-8 replaced by U+FFFD, '<', '>' and
 * '&' escaped too, and the whole at most PROFILE_MAX_LABELSET bytes: equal sets give equal strings
 * (the aggregator counts by them), and the string is safe to store and to show. Pure: a fixed-size
 * scratch per parse, no allocation. */
#include <string.h>

#include "base/sbuf.h"
#include "collector/profile_internal.h"

void
labels_reset(struct label_scratch *ls)
{
	ls->n = 0;
	ls->used = 0;
	ls->jsonlen = 0;
}

/* Append at most PROFILE_MAX_LABEL_BYTES of raw bytes, cut at a UTF-8 character boundary. */
static void
put_raw(struct label_scratch *ls, const char *s, size_t n, uint16_t *off, uint16_t *len)
{
	if (n > PROFILE_MAX_LABEL_BYTES) {
		n = PROFILE_MAX_LABEL_BYTES;
		/* back off a cut multi-byte character: its continuation bytes, then its lead */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	*off = (uint16_t)ls->used;
	*len = (uint16_t)n;
	memcpy(ls->bytes + ls->used, s, n);
	ls->used += n;
}

void
labels_add(struct label_scratch *ls, const char *k, size_t klen, const char *v, size_t vlen)
{
	if (ls->n >= PROFILE_MAX_LABELS)
		return; /* Go lists labels in key order: the first ones kept are the smallest */
	put_raw(ls, k, klen, &ls->kv[ls->n].koff, &ls->kv[ls->n].klen);
	put_raw(ls, v, vlen, &ls->kv[ls->n].voff, &ls->kv[ls->n].vlen);
	ls->n++;
}

/* ---- the text forms ---- */

/* Encode code point 'cp' (U+FFFD when not a scalar value) as UTF-8 into 'dst'; its length. */
static size_t
utf8_put(uint32_t cp, char *dst)
{
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | (cp >> 6));
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | (cp >> 12));
		dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | (cp >> 18));
	dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One key or value at s[*i]: a Go-quoted string ("..." with \n \t \\ \" \xHH \uHHHH \UHHHHHHHH
 * \ooo and the other C escapes) or bare bytes up to a space, ':', ',' or '}'. Decoded into 'out'
 * (at most PROFILE_MAX_LABEL_BYTES kept, cut between characters). False when malformed. */
static bool
token(const char *s, size_t n, size_t *i, char *out, size_t *outlen)
{
	size_t o = 0, p = *i;
	bool full = false;

	if (p < n && s[p] != '"') {
		size_t start = p;

		while (p < n && s[p] != ':' && s[p] != ',' && s[p] != '}' && s[p] != ' ')
			p++;
		if (p == start)
			return false;
		o = p - start > PROFILE_MAX_LABEL_BYTES ? PROFILE_MAX_LABEL_BYTES : p - start;
		memcpy(out, s + start, o);
		while (o < p - start && o > 0 && ((unsigned char)s[start + o] & 0xc0) == 0x80)
			o--;
		*outlen = o;
		*i = p;
		return true;
	}
	if (p >= n)
		return false;
	for (p++; p < n && s[p] != '"'; p++) {
		char enc[4];
		size_t elen = 1;
		uint32_t cp;

		if (s[p] != '\\') {
			/* a character whole: its lead byte and the continuation bytes after it */
			enc[0] = s[p];
			while (((unsigned char)enc[0] & 0xc0) == 0xc0 && elen < 4 && p + 1 < n &&
			       ((unsigned char)s[p + 1] & 0xc0) == 0x80)
				enc[elen++] = s[++p];
		} else {
			if (++p >= n)
				return false;
			switch (s[p]) {
			case 'a':
				enc[0] = '\a';
				break;
			case 'b':
				enc[0] = '\b';
				break;
			case 'f':
				enc[0] = '\f';
				break;
			case 'n':
				enc[0] = '\n';
				break;
			case 'r':
				enc[0] = '\r';
				break;
			case 't':
				enc[0] = '\t';
				break;
			case 'v':
				enc[0] = '\v';
				break;
			case '\\':
			case '"':
			case '\'':
				enc[0] = s[p];
				break;
			case 'x':
			case 'u':
			case 'U': {
				size_t digits = s[p] == 'x' ? 2 : s[p] == 'u' ? 4 : 8;
				bool byte = s[p] == 'x';

				cp = 0;
				for (size_t d = 0; d < digits; d++) {
					int h = p + 1 + d < n
					            ? sbuf_hexval((unsigned char)s[p + 1 + d])
					            : -1;

					if (h < 0)
						return false;
					cp = cp * 16 + (uint32_t)h;
				}
				p += digits;
				if (byte)
					enc[0] = (char)cp; /* a raw byte, as Go's \xHH means */
				else
					elen = utf8_put(cp, enc);
				break;
			}
			default:
				if (s[p] < '0' || s[p] > '7' || p + 2 >= n || s[p + 1] < '0' ||
				    s[p + 1] > '7' || s[p + 2] < '0' || s[p + 2] > '7')
					return false;
				enc[0] = (char)(((s[p] - '0') << 6) | ((s[p + 1] - '0') << 3) |
				                (s[p + 2] - '0'));
				p += 2;
				break;
			}
		}
		/* whole characters while they fit; once one does not, the rest are dropped */
		if (!full && o + elen <= PROFILE_MAX_LABEL_BYTES) {
			memcpy(out + o, enc, elen);
			o += elen;
		} else {
			full = true;
		}
	}
	if (p >= n)
		return false;
	*outlen = o;
	*i = p + 1;
	return true;
}

static void
skip_spaces(const char *s, size_t n, size_t *i)
{
	while (*i < n && s[*i] == ' ')
		(*i)++;
}

int
labels_parse_text(struct label_scratch *ls, const char *s, size_t n)
{
	char k[PROFILE_MAX_LABEL_BYTES + 4], v[PROFILE_MAX_LABEL_BYTES + 4];
	size_t i = 0, klen, vlen;

	labels_reset(ls);
	skip_spaces(s, n, &i);
	if (i >= n || s[i] != '{')
		return -1;
	i++;
	skip_spaces(s, n, &i);
	if (i < n && s[i] == '}')
		goto end;
	for (;;) {
		if (!token(s, n, &i, k, &klen))
			goto bad;
		skip_spaces(s, n, &i);
		if (i >= n || s[i] != ':')
			goto bad;
		i++;
		skip_spaces(s, n, &i);
		if (!token(s, n, &i, v, &vlen))
			goto bad;
		labels_add(ls, k, klen, v, vlen);
		skip_spaces(s, n, &i);
		if (i < n && s[i] == ',') {
			i++;
			skip_spaces(s, n, &i);
			continue;
		}
		if (i < n && s[i] == '}')
			break;
		goto bad;
	}
end:
	i++;
	skip_spaces(s, n, &i);
	if (i == n)
		return 0;
bad:
	labels_reset(ls);
	return -1;
}

/* ---- the canonical form ---- */

/* Length of the valid UTF-8 character at s[0..avail), 0 when invalid. */
static size_t
utf8_len(const unsigned char *s, size_t avail)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Append 's' as a JSON string to dst[*o..cap). False when it does not fit. */
static bool
json_str(char *dst, size_t cap, size_t *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t w = *o;

	if (w + 1 > cap)
		return false;
	dst[w++] = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t l;

		if (c == '"' || c == '\\') {
			if (w + 2 > cap)
				return false;
			dst[w++] = '\\';
			dst[w++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
			if (w + 6 > cap)
				return false;
			memcpy(dst + w, "\\u00", 4);
			dst[w + 4] = hex[c >> 4];
			dst[w + 5] = hex[c & 15];
			w += 6;
			i++;
		} else if ((l = utf8_len((const unsigned char *)s + i, n - i)) > 0) {
			if (w + l > cap)
				return false;
			memcpy(dst + w, s + i, l);
			w += l;
			i += l;
		} else {
			if (w + 3 > cap)
				return false;
			memcpy(dst + w, "\xef\xbf\xbd", 3); /* U+FFFD for a byte of invalid UTF-8 */
			w += 3;
			i++;
		}
	}
	if (w + 1 > cap)
		return false;
	dst[w++] = '"';
	*o = w;
	return true;
}

static int
kv_cmp(const struct label_scratch *ls, size_t a, size_t b)
{
	size_t la = ls->kv[a].klen, lb = ls->kv[b].klen;
	int c = memcmp(ls->bytes + ls->kv[a].koff, ls->bytes + ls->kv[b].koff, la < lb ? la : lb);

	return c != 0 ? c : (la > lb) - (la < lb);
}

size_t
labels_canon(struct label_scratch *ls)
{
	size_t o = 1, kept = 0;

	ls->jsonlen = 0;
	if (ls->n == 0)
		return 0;
	/* insertion sort by key: at most PROFILE_MAX_LABELS */
	for (size_t i = 1; i < ls->n; i++) {
		for (size_t j = i; j > 0 && kv_cmp(ls, j - 1, j) > 0; j--) {
			struct label_kv t = ls->kv[j];

			ls->kv[j] = ls->kv[j - 1];
			ls->kv[j - 1] = t;
		}
	}
	ls->json[0] = '{';
	for (size_t i = 0; i < ls->n; i++) {
		size_t w = o;

		if (i > 0 && kv_cmp(ls, i - 1, i) == 0)
			continue; /* a key twice: the first value */
		if (kept > 0)
			ls->json[w++] = ',';
		/* a label that does not fit (with the closing brace) is left out */
		if (w >= PROFILE_MAX_LABELSET - 1 ||
		    !json_str(ls->json, PROFILE_MAX_LABELSET - 1, &w, ls->bytes + ls->kv[i].koff,
		              ls->kv[i].klen) ||
		    w + 1 > PROFILE_MAX_LABELSET - 1)
			continue;
		ls->json[w++] = ':';
		if (!json_str(ls->json, PROFILE_MAX_LABELSET - 1, &w, ls->bytes + ls->kv[i].voff,
		              ls->kv[i].vlen))
			continue;
		o = w;
		kept++;
	}
	if (kept == 0)
		return 0;
	ls->json[o++] = '}';
	ls->jsonlen = o;
	return o;
}
