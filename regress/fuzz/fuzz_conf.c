/*
 * fuzz_conf.c: a configuration grammar from arbitrary bytes.  The
 * Makefile builds it once per daemon (fuzz_conf_proxyd, ...), with that
 * daemon's header included first and its parse.y and config.c linked
 * in.  The input becomes a memory file the grammar reads by its
 * /proc/self/fd path; host names are never looked up (net_numeric_only).
 * Whatever the bytes, the parser must return a configuration or NULL
 * without crashing, hanging or leaking.
 */

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 init;
	char		 path[64];
	int		 fd;

	if (!init) {
		net_numeric_only = 1;
		log_init(1, LOG_DAEMON);	/* -close_fd_mask=2 quiets it */
		init = 1;
	}
	if ((fd = memfd_create("conf", MFD_CLOEXEC)) == -1)
		return (0);
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return (0);
	}
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	config_free(parse_config(path, NULL, 0));
	close(fd);
	return (0);
}
