#include <errno.h>
#include <stdint.h>

#include "fileio.h"

/* Drop the iovecs a partial transfer already covered. */
static void advance(struct iovec **iov, int *cnt, size_t done)
{
	while (*cnt && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt && done) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

int fileio_transfer(int fd, struct iovec *iov, int cnt, off_t off, bool write)
{
	ssize_t n;

	while (cnt) {
		n = write ? pwritev(fd, iov, cnt, off) :
			    preadv(fd, iov, cnt, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* A zero-length transfer would spin forever. */
		if (n == 0)
			return -EIO;
		off += n;
		advance(&iov, &cnt, n);
	}
	return 0;
}
