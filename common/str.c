/*
 * Small string helpers for the config file readers of drinkd and drink.
 */
#include <string.h>

#include "common.h"

char *
str_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t') {
		s++;
	}
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r')) {
		*--e = '\0';
	}
	return s;
}

int
str_utf8_prefix(const char *s, int max)
{
	size_t n = strlen(s);

	if (max < 0) {
		return 0;
	}
	if (n <= (size_t)max) {
		return (int)n;
	}
	n = (size_t)max;
	/* Cut before a character whose bytes would not all fit. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
		n--;
	}
	return (int)n;
}
