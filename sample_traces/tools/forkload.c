// forkload: threads fault on a cold shared file mapping (major faults, I/O, VM_FAULT_RETRY)
// while the main thread forks: each fork() write-locks the whole mm (kernel/fork.c dup_mmap).
// Build: gcc -O2 -pthread -o forkload forkload.c
// Usage: forkload FILE THREADS ITERS FORKS [GAP_US]
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *map;
static size_t map_size;
static int iterations = 400;
static volatile long sink;

static unsigned long long next_random(unsigned long long *state) {
    *state ^= *state << 13; *state ^= *state >> 7; *state ^= *state << 17;
    return *state;
}

static void *worker(void *arg) {
    long id = (long)arg;
    unsigned long long state = 0x9E3779B97F4A7C15ull * (id + 1);
    size_t pages = map_size / 4096;
    long total = 0;
    for (int i = 0; i < iterations; i++)
        total += map[(next_random(&state) % pages) * 4096];
    sink += total;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: forkload FILE THREADS ITERS FORKS [GAP_US]\n");
        return 2;
    }
    int threads = atoi(argv[2]), forks = atoi(argv[4]);
    long gap_us = argc > 5 ? atol(argv[5]) : 2000;
    iterations = atoi(argv[3]);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    map_size = lseek(fd, 0, SEEK_END);
    map = mmap(NULL, map_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { perror("mmap"); return 1; }
    madvise(map, map_size, MADV_RANDOM);
    pthread_t workers[256];
    for (long i = 0; i < threads && i < 256; i++)
        pthread_create(&workers[i], NULL, worker, (void *)i);
    for (int i = 0; i < forks; i++) {
        pid_t child = fork();
        if (child == 0) _exit(0);
        if (child > 0) waitpid(child, NULL, 0);
        struct timespec gap = {0, gap_us * 1000};
        nanosleep(&gap, NULL);
    }
    for (long i = 0; i < threads && i < 256; i++)
        pthread_join(workers[i], NULL);
    printf("done %ld\n", sink);
    return 0;
}
