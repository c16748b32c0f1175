/* fuzz_input_file.h - a fuzz input as a file, for the readers that only take
 * a path (safetensors, Avro container files): the bytes go into an anonymous
 * memory file (memfd) reached as /proc/self/fd/N, so nothing touches the
 * disk and nothing is left behind when a run is killed. Header-only: each
 * target is one program. */
#ifndef SEGSTREAM_FUZZ_INPUT_FILE_H
#define SEGSTREAM_FUZZ_INPUT_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct fuzz_input_file {
    int fd;
    char path[40];
} fuzz_input_file;

/* Writes data into a new memory file; aborts when the system refuses (the
 * run would test nothing). Close with fuzz_input_file_close(). */
static inline void fuzz_input_file_open(fuzz_input_file *f, const uint8_t *data, size_t size)
{
    f->fd = (int)syscall(SYS_memfd_create, "fuzz-input", 0u);
    if (f->fd < 0) {
        perror("memfd_create");
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t n = write(f->fd, data + done, size - done);
        if (n <= 0) {
            perror("write memfd");
            abort();
        }
        done += (size_t)n;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

static inline void fuzz_input_file_close(fuzz_input_file *f)
{
    close(f->fd);
}

#endif
