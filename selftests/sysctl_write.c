// SPDX-License-Identifier: GPL-2.0
/*
 * sysctl_write FILE STRING: write STRING to FILE with exactly one write(2).
 *
 * echo and sysctl(8) add a newline, retry partial writes or skip empty
 * ones, which hides what the kernel's handler does with the bytes; the
 * tests need the raw result of a single write, including write(fd, "", 0).
 *
 * Prints "ok N" (N bytes written), "partial N of LEN", "open: ENAME" or
 * "write: ENAME". Exit 0 only when the whole string was written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	size_t len;
	ssize_t n;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE STRING\n", argv[0]);
		return 2;
	}
	len = strlen(argv[2]);
	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		printf("open: %s\n", errname(errno));
		return 1;
	}
	n = write(fd, argv[2], len);
	if (n < 0) {
		printf("write: %s\n", errname(errno));
		close(fd);
		return 1;
	}
	close(fd);
	if ((size_t)n != len) {
		printf("partial %zd of %zu\n", n, len);
		return 1;
	}
	printf("ok %zd\n", n);
	return 0;
}
