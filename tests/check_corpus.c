/*
 * The fuzzing corpus as a regression test: every input under
 * tests/fuzz/corpus-* (seeds, and any input that once crashed a target)
 * goes through the same entry points the fuzzers use, in the normal and
 * sanitizer builds alike.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"

int fuzz_request_input(const uint8_t *data, size_t size);
int fuzz_machine_input(const uint8_t *data, size_t size);

/* Feed every file in dir to fn; returns how many were run. */
static int
replay(const char *dir, int (*fn)(const uint8_t *, size_t))
{
	struct dirent *e;
	char path[512];
	uint8_t *buf = xmalloc(1 << 17);
	size_t n;
	FILE *f;
	DIR *d;
	int count = 0;

	ck_assert_msg((d = opendir(dir)) != NULL, "no corpus %s", dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ck_assert_ptr_nonnull(f = fopen(path, "rb"));
		n = fread(buf, 1, 1 << 17, f);
		fclose(f);
		ck_assert_int_eq(fn(buf, n), 0);
		count++;
	}
	closedir(d);
	free(buf);
	return count;
}

START_TEST(request_corpus_replays_cleanly)
{
	ck_assert_int_gt(replay("tests/fuzz/corpus-request",
	    fuzz_request_input), 10);
}
END_TEST

START_TEST(machine_corpus_replays_cleanly)
{
	ck_assert_int_gt(replay("tests/fuzz/corpus-machine",
	    fuzz_machine_input), 5);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("corpus");
	TCase *tc = tcase_create("fuzz corpus");
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, request_corpus_replays_cleanly);
	tcase_add_test(tc, machine_corpus_replays_cleanly);
	suite_add_tcase(s, tc);
	failed = h_run(s);
	return failed == 0 ? 0 : 1;
}
