// The X-IO paper's peer (its Fig. 7): a round trip between two processes over a Unix stream
// socket, both sides driving it through io_uring (liburing), plain or with a kernel thread
// polling the submission queue (SQPOLL). `uring-pingpong <size> <rounds> <sqpoll 0|1> [spread]` prints
// {"median": µs, "p99": µs}. The parent sends `size` bytes and waits for them to come back;
// the child echoes. One message in flight, as the xio round trip has.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char* what, int err) {
  fprintf(stderr, "uring-pingpong: %s: %s\n", what, strerror(err < 0 ? -err : err));
  exit(1);
}

static void ring_init(struct io_uring* ring, int sqpoll) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  if (sqpoll) {
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 2000;  // ms the poller spins before sleeping
  }
  int r = io_uring_queue_init_params(8, ring, &p);
  if (r < 0) die("io_uring_queue_init", r);
}

// One send or recv through the ring, waited for; returns the bytes it moved.
static int once(struct io_uring* ring, int fd, char* buf, int len, int send) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (send) io_uring_prep_send(sqe, fd, buf, len, 0);
  else io_uring_prep_recv(sqe, fd, buf, len, 0);
  int r = io_uring_submit(ring);
  if (r < 0) die("io_uring_submit", r);
  struct io_uring_cqe* cqe;
  r = io_uring_wait_cqe(ring, &cqe);
  if (r < 0) die("io_uring_wait_cqe", r);
  int res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  if (res <= 0) die(send ? "send" : "recv", res == 0 ? 104 : res);
  return res;
}

// A whole message each way: a stream may split it.
static void move_all(struct io_uring* ring, int fd, char* buf, int len, int send) {
  for (int done = 0; done < len;) done += once(ring, fd, buf + done, len - done, send);
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: uring-pingpong <size> <rounds> <sqpoll 0|1> [spread 0|1]\n");
    return 2;
  }
  int size = atoi(argv[1]), rounds = atoi(argv[2]), sqpoll = atoi(argv[3]);
  // spread 1: every CPU, whatever the caller was pinned to, the processes and their pollers
  // placed as the scheduler likes; 0: where the caller runs (one CPU, if it is pinned). The
  // bench takes the better, as it does for the Node peers.
  if (argc > 4 && atoi(argv[4])) {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); c++) CPU_SET(c, &all);
    sched_setaffinity(0, sizeof all, &all);
  }
  int warmup = rounds / 10 < 1000 ? rounds / 10 : 1000;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds)) die("socketpair", errno);
  char* buf = malloc(size);
  memset(buf, 7, size);
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    struct io_uring ring;
    ring_init(&ring, sqpoll);
    for (int r = 0; r < rounds + warmup; r++) {
      move_all(&ring, fds[1], buf, size, 0);
      move_all(&ring, fds[1], buf, size, 1);
    }
    return 0;
  }
  close(fds[1]);
  struct io_uring ring;
  ring_init(&ring, sqpoll);
  double* rtt = malloc(sizeof(double) * rounds);
  for (int r = 0; r < rounds + warmup; r++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    move_all(&ring, fds[0], buf, size, 1);
    move_all(&ring, fds[0], buf, size, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r >= warmup) rtt[r - warmup] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
  }
  waitpid(child, NULL, 0);
  qsort(rtt, rounds, sizeof(double), cmp);
  printf("{\"median\": %.3f, \"p99\": %.3f}\n", rtt[rounds / 2], rtt[(int)(rounds * 0.99)]);
  return 0;
}
