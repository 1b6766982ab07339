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
