/* SPDX-License-Identifier: GPL-2.0 */
/* TAP output for the unit tests: one line per check, exit status from them. */
#ifndef _FSK_UNIT_TAP_H
#define _FSK_UNIT_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_tests, tap_failures;

static inline __attribute__((format(printf, 2, 3))) void check(int ok, const char *fmt, ...)
{
	va_list ap;

	tap_tests++;
	if (!ok)
		tap_failures++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The plan line; main()'s return value. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_tests);
	return tap_failures ? 1 : 0;
}

#endif
