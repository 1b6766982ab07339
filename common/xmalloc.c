/*
 * Allocation wrappers.  Running out of memory is not something a request
 * handler can usefully recover from half-way, so these abort the process;
 * every untrusted size is bounded before it reaches them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

void *
xmalloc(size_t size)
{
	void *p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL) {
		fatal("out of memory allocating %zu bytes", size);
	}
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) ==
	    NULL) {
		fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	}
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size) {
		fatal("allocation overflow: %zu x %zu", nmemb, size);
	}
	if ((p = realloc(ptr, nmemb * size == 0 ? 1 : nmemb * size)) == NULL) {
		fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	}
	return p;
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL) {
		fatal("out of memory copying a string");
	}
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fatal("out of memory formatting a string");
	}
	return p;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
