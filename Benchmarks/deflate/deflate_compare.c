/* Compares zlib and libdeflate on ConvoSync's gzip frames: the input is cut into 1 MiB
 * frames (the default frame size) and each frame is compressed as one gzip member, as the
 * pack writer does. Single-threaded; prints MB/s of input and the total compressed size.
 *
 *   cc -O2 -o /tmp/deflate_compare Benchmarks/deflate/deflate_compare.c -lz -ldeflate
 *   cat FILES... | /tmp/deflate_compare
 */
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t zlib_gzip(const unsigned char *in, size_t n, unsigned char *out, size_t cap, int level) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(1);
    s.next_in = (unsigned char *)in; s.avail_in = n; s.next_out = out; s.avail_out = cap;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END) exit(2);
    size_t r = cap - s.avail_out;
    deflateEnd(&s);
    return r;
}

int main(void) {
    size_t cap = 1 << 20, len = 0;
    unsigned char *data = malloc(cap);
    size_t got;
    while ((got = fread(data + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) data = realloc(data, cap *= 2);
    }
    const size_t frame = 1 << 20;
    unsigned char *out = malloc(frame * 2);
    int levels[] = {6, 9};
    for (int li = 0; li < 2; li++) {
        double t = now(); size_t total = 0;
        for (size_t o = 0; o < len; o += frame) {
            size_t n = len - o < frame ? len - o : frame;
            total += zlib_gzip(data + o, n, out, frame * 2, levels[li]);
        }
        double dt = now() - t;
        printf("zlib %s level %d: %.1f MB/s, %.2f MB\n", zlibVersion(), levels[li], len / 1e6 / dt, total / 1e6);
    }
    int dlevels[] = {6, 9, 12};
    for (int li = 0; li < 3; li++) {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(dlevels[li]);
        double t = now(); size_t total = 0;
        for (size_t o = 0; o < len; o += frame) {
            size_t n = len - o < frame ? len - o : frame;
            total += libdeflate_gzip_compress(c, data + o, n, out, frame * 2);
        }
        double dt = now() - t;
        printf("libdeflate level %d: %.1f MB/s, %.2f MB\n", dlevels[li], len / 1e6 / dt, total / 1e6);
        libdeflate_free_compressor(c);
    }
    printf("input: %.1f MB\n", len / 1e6);
    return 0;
}
