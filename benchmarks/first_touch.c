/* How fast this machine hands a process fresh memory: map N MiB and write one byte per 4 KiB
 * page (the kernel zeroes each page on its first touch). On a VM that reports free pages to its
 * host, pages the host took back cost more to touch again (benchmarks/RESULTS.md, issue 12,
 * ninth round).
 *
 *     cc -O2 -o /tmp/first_touch benchmarks/first_touch.c && /tmp/first_touch 700
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MIB\n", argv[0]);
        return 2;
    }
    size_t n = (size_t)atol(argv[1]) << 20;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%.3f s for %zu MiB (%.2f GB/s)\n", s, n >> 20, (double)n / 1e9 / s);
    return 0;
}
