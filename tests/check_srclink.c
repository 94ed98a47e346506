/* tests/check_srclink.c: source links (base/srclink.c): template checks, the running version from
 * target labels, and expansion with its encoding rules. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/sbuf.h"
#include "base/srclink.h"

/* The link of file:line at 'version', or NULL when there is none. Caller frees. */
static char *
link_of(const struct config_source *src, const char *file, unsigned long line, const char *version)
{
	struct sbuf b = {0};
	size_t len;
	int rc = srclink_expand(src, file, line, version, &b);

	ck_assert(rc == 0 || rc == 1);
	ck_assert(!b.failed);
	if (rc == 1) {
		ck_assert_uint_eq(b.len, 0);
		return NULL;
	}
	return sbuf_steal(&b, &len);
}

#define ASSERT_LINK(src, file, line, version, want)                                                \
	do {                                                                                       \
		char *got_ = link_of(src, file, line, version);                                    \
		ck_assert_msg(got_ != NULL && strcmp(got_, want) == 0, "link of %s:%lu: %s", file, \
		              (unsigned long)(line), got_ ? got_ : "(none)");                      \
		free(got_);                                                                        \
	} while (0)

#define ASSERT_NO_LINK(src, file, line, version)                                                   \
	do {                                                                                       \
		char *got_ = link_of(src, file, line, version);                                    \
		ck_assert_msg(got_ == NULL, "unexpected link of %s: %s", file, got_);              \
	} while (0)

START_TEST(test_expand)
{
	struct config_source src = {
	    .url = (char *)"https://git.example/pay/blob/{version}/{path}#L{line}",
	    .strip_prefix = (char *)"/build/",
	    .version_label = (char *)"version",
	};

	ASSERT_LINK(&src, "/build/cmd/pay/main.go", 42, "v1.4.2",
	            "https://git.example/pay/blob/v1.4.2/cmd/pay/main.go#L42");
	/* {path} is percent-encoded but for '/': spaces, '#', '?', '%', quotes, '<', UTF-8. */
	ASSERT_LINK(&src, "/build/a b/x#y?z%.go", 7, "v1",
	            "https://git.example/pay/blob/v1/a%20b/x%23y%3Fz%25.go#L7");
	ASSERT_LINK(&src, "/build/\"><script>/é.go", 1, "v1",
	            "https://git.example/pay/blob/v1/%22%3E%3Cscript%3E/%C3%A9.go#L1");
	/* The version too; a branch name keeps its '/'. */
	ASSERT_LINK(&src, "/build/x.go", 3, "release/1.2 rc",
	            "https://git.example/pay/blob/release/1.2%20rc/x.go#L3");
	/* No link: outside strip_prefix (the toolchain, the module cache), no version, a line of
	 * 0, an empty path, or a path that would climb out of the tree. */
	ASSERT_NO_LINK(&src, "/usr/local/go/src/runtime/chan.go", 10, "v1");
	ASSERT_NO_LINK(&src, "/root/go/pkg/mod/golang.org/x/sync@v0.7.0/errgroup/errgroup.go", 10,
	               "v1");
	ASSERT_NO_LINK(&src, "/build/x.go", 3, NULL);
	ASSERT_NO_LINK(&src, "/build/x.go", 3, "");
	ASSERT_NO_LINK(&src, "/build/x.go", 0, "v1");
	ASSERT_NO_LINK(&src, "/build/", 3, "v1");
	ASSERT_NO_LINK(&src, "/build/../../etc/passwd", 3, "v1");
	ASSERT_NO_LINK(&src, "/build/a/./b.go", 3, "v1");
	ASSERT_NO_LINK(&src, "/build/x.go", 3, "../other");
	/* No template: no links at all. */
	src.url = NULL;
	ASSERT_NO_LINK(&src, "/build/x.go", 3, "v1");
	ASSERT_NO_LINK(NULL, "/build/x.go", 3, "v1");

	/* Without {version} the version is not needed; without strip_prefix every file links, its
	 * leading '/' dropped; a placeholder may repeat. */
	src = (struct config_source){.url =
	                                 (char *)"http://code.example/{path}?line={line}&l={line}"};
	ASSERT_LINK(&src, "/src/app/x.go", 9, NULL, "http://code.example/src/app/x.go?line=9&l=9");
	ASSERT_LINK(&src, "example.com/pay/internal/x.go", 12, NULL,
	            "http://code.example/example.com/pay/internal/x.go?line=12&l=12");
}
END_TEST

START_TEST(test_template_problem)
{
	char why[160];

	ck_assert_ptr_null(srclink_template_problem(
	    "https://git.example/pay/blob/{version}/{path}#L{line}", why, sizeof(why)));
	ck_assert_ptr_null(srclink_template_problem("HTTP://h:8080/{path}", why, sizeof(why)));
	ck_assert_str_eq(srclink_template_problem("https://g/{commit}/{path}", why, sizeof(why)),
	                 "unknown placeholder '{commit}' (use {path}, {line} and {version})");
	ck_assert_str_eq(srclink_template_problem("https://g/{path}{", why, sizeof(why)),
	                 "'{' without a placeholder at byte 16 (use {path}, {line} and {version})");
	ck_assert_str_eq(srclink_template_problem("https://g/{path}}", why, sizeof(why)),
	                 "'}' without '{' at byte 16");
	ck_assert_str_eq(srclink_template_problem("https://g/{line}", why, sizeof(why)),
	                 "the template needs {path}");
	ck_assert_str_eq(srclink_template_problem("file:///{path}", why, sizeof(why)),
	                 "not an http:// or https:// URL: the scheme must be http:// or https://");
	ck_assert_str_eq(srclink_template_problem("https:///{path}", why, sizeof(why)),
	                 "not an http:// or https:// URL: missing host");
	ck_assert_ptr_nonnull(srclink_template_problem("https://g/a b/{path}", why, sizeof(why)));
	ck_assert(srclink_needs_version("https://g/{version}/{path}"));
	ck_assert(!srclink_needs_version("https://g/{path}"));
}
END_TEST

START_TEST(test_version_from_labels)
{
	struct config_source src = {.url = (char *)"https://g/{version}/{path}",
	                            .version_label = (char *)"version"};
	char *v;

	v = srclink_version(&src, "{\"service\":\"pay\",\"version\":\"v1.4.2\"}");
	ck_assert_str_eq(v, "v1.4.2");
	free(v);
	ck_assert_ptr_null(srclink_version(&src, "{\"service\":\"pay\"}"));
	ck_assert_ptr_null(srclink_version(&src, "{\"version\":\"\"}"));
	ck_assert_ptr_null(srclink_version(&src, "{\"version\":7}"));
	ck_assert_ptr_null(srclink_version(&src, "not json"));
	ck_assert_ptr_null(srclink_version(&src, NULL));
	src.version_label = NULL;
	ck_assert_ptr_null(srclink_version(&src, "{\"version\":\"v1\"}"));
}
END_TEST

Suite *
srclink_suite(void)
{
	Suite *s = suite_create("srclink");
	TCase *tc = tcase_create("srclink");

	tcase_add_test(tc, test_expand);
	tcase_add_test(tc, test_template_problem);
	tcase_add_test(tc, test_version_from_labels);
	suite_add_tcase(s, tc);
	return s;
}
