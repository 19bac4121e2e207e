// sync-latency LINE_BYTES BATCH SECONDS FILE: appends BATCH lines of LINE_BYTES with one write, then fdatasync, for
// SECONDS; prints the sync latencies and the time spent in syncs slower than 20 ms. Measures the disk, not Verdict.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s LINE_BYTES BATCH SECONDS FILE\n", argv[0]);
        return 64;
    }
    int length = atoi(argv[1]), batch = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int fd = open(argv[4], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
    if (fd < 0 || length < 1 || batch < 1) {
        perror(argv[4]);
        return 1;
    }
    size_t size = (size_t)length * batch;
    char *lines = malloc(size);
    memset(lines, 'x', size);
    for (int i = 1; i <= batch; i++) lines[(size_t)i * length - 1] = '\n';
    size_t capacity = 1 << 20, count = 0;
    double *latencies = malloc(capacity * sizeof(double)), stalled = 0, start = now();
    while (now() - start < seconds && count < capacity) {
        if (write(fd, lines, size) != (ssize_t)size) {
            perror("write");
            return 1;
        }
        double before = now();
        if (fdatasync(fd) != 0) {
            perror("fdatasync");
            return 1;
        }
        double took = now() - before;
        latencies[count++] = took;
        if (took > 0.020) stalled += took;
    }
    double elapsed = now() - start;
    qsort(latencies, count, sizeof(double), ascending);
    printf("%5d-byte lines, %d per sync: %7zu syncs (%5.0f lines/s, %5.1f MB/s); sync p50 %.2f p99 %.2f max %6.1f ms; "
           "in syncs over 20 ms: %4.0f ms (%.1f %% of the time)\n",
           length, batch, count, count * batch / elapsed, count * size / elapsed / 1e6, latencies[count / 2] * 1e3,
           latencies[(size_t)(count * 0.99)] * 1e3, latencies[count - 1] * 1e3, stalled * 1e3,
           100 * stalled / elapsed);
    unlink(argv[4]);
    return 0;
}
