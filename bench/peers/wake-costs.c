// Where a round trip's microseconds can go, measured one mechanism at a time (issue #11):
// handing a word over between two processes by each of the ways xio-chain's actors wait.
// `wake-costs <cpuA> <cpuB> <rounds>` prints one JSON object, all times in µs, medians and p99
// over `rounds` hand-overs:
//   yield:        one sched_yield() call with nothing else to run on the CPU (A alone)
//   spinHandover: A and B poll a shared word with sched_yield() between polls (as rxWait's
//                 spin does); half a ping-pong round trip: publish → the other sees it
//   futexHandover: A and B sleep on futex words and wake each other (FUTEX_WAKE after the
//                 store, as the manager's wakeEndpoint); half a ping-pong round trip
//   futexWakeCall: what FUTEX_WAKE costs the waker when there is a sleeper to wake
//   pagesProcesses, pagesThreads: spinHandover with each side touching 128 pages of its own
//                 memory every time it polls (as a Node process touches its heap, code and
//                 stacks each time it runs), the two sides two processes or two threads of one
// With cpuA == cpuB both ends share one CPU: a spin hand-over is then a context switch.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
  _Alignas(64) atomic_uint turn;   // spin ping-pong: whose turn (0: A, 1: B)
  _Alignas(64) atomic_uint word[2];  // futex ping-pong: each side's wake word
  _Alignas(64) atomic_uint ready;
  double wakeCall[1 << 20];        // B's FUTEX_WAKE costs, read by A
};

static uint64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  sched_setaffinity(0, sizeof s, &s);
}

static void futexWait(atomic_uint* w, unsigned expected) {
  syscall(SYS_futex, (unsigned*)w, FUTEX_WAIT, expected, NULL, NULL, 0);
}
static void futexWake(atomic_uint* w) { syscall(SYS_futex, (unsigned*)w, FUTEX_WAKE, 1, NULL, NULL, 0); }

// Pages each side of the paged hand-over touches per poll. Where a context switch changes the
// address space, the translations of the pages a process touched are lost with it, and found
// again by page walks once it runs; threads of one process keep theirs.
#define TOUCHED_PAGES 128

static char* ownPages(void) {
  return mmap(NULL, TOUCHED_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
}

static void touch(char* pages) {
  for (int i = 0; i < TOUCHED_PAGES; i++) pages[i * 4096 + (i % 64) * 64]++;
}

struct answerer {
  struct shared* sh;
  int cpu, rounds;
};

// B's side of the paged spin ping-pong, as a child process or as a thread.
static void* answer(void* arg) {
  struct answerer* a = arg;
  char* mine = ownPages();
  pin(a->cpu);
  for (int r = 0; r < a->rounds; r++) {
    while (atomic_load(&a->sh->turn) != 1) {
      touch(mine);
      sched_yield();
    }
    atomic_store(&a->sh->turn, 0);
  }
  return NULL;
}

// A's side: half a round trip per turn, into v.
static void pagedHandover(struct shared* sh, int cpuB, int rounds, int threads, double* v) {
  struct answerer a = {sh, cpuB, rounds};
  pthread_t thread;
  pid_t child = 0;
  atomic_store(&sh->turn, 0);
  if (threads) {
    pthread_create(&thread, NULL, answer, &a);
  } else if ((child = fork()) == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    answer(&a);
    _exit(0);
  }
  char* mine = ownPages();
  for (int r = 0; r < rounds; r++) {
    uint64_t t0 = now();
    atomic_store(&sh->turn, 1);
    while (atomic_load(&sh->turn) != 0) {
      touch(mine);
      sched_yield();
    }
    v[r] = (now() - t0) / 2e3;
  }
  if (threads) pthread_join(thread, NULL);
  else waitpid(child, NULL, 0);
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void print(const char* name, double* v, int n, int last) {
  qsort(v, n, sizeof(double), cmp);
  printf("\"%s\": {\"median\": %.3f, \"p99\": %.3f}%s", name, v[n / 2], v[(int)(n * 0.99)], last ? "" : ", ");
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: wake-costs <cpuA> <cpuB> <rounds>\n");
    return 2;
  }
  int cpuA = atoi(argv[1]), cpuB = atoi(argv[2]), rounds = atoi(argv[3]);
  if (rounds > (1 << 20)) rounds = 1 << 20;
  struct shared* sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  double* v = malloc(sizeof(double) * rounds);
  pin(cpuA);

  // sched_yield with nobody else runnable here.
  for (int r = 0; r < rounds; r++) {
    uint64_t t0 = now();
    sched_yield();
    v[r] = (now() - t0) / 1e3;
  }
  printf("{");
  print("yield", v, rounds, 0);

  alarm(120);  // never outlive a stuck side; the child goes with the parent
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pin(cpuB);
    // Spin ping-pong: B answers every turn A gives it.
    for (int r = 0; r < rounds; r++) {
      while (atomic_load(&sh->turn) != 1) sched_yield();
      atomic_store(&sh->turn, 0);
    }
    // Futex ping-pong: B sleeps until A bumps its word, then bumps A's and wakes it.
    atomic_store(&sh->ready, 1);
    for (int r = 0; r < rounds; r++) {
      unsigned seen;
      while ((seen = atomic_load(&sh->word[1])) == (unsigned)r) futexWait(&sh->word[1], seen);
      atomic_fetch_add(&sh->word[0], 1);
      uint64_t t0 = now();
      futexWake(&sh->word[0]);
      sh->wakeCall[r] = (now() - t0) / 1e3;
    }
    _exit(0);
  }
  for (int r = 0; r < rounds; r++) {
    uint64_t t0 = now();
    atomic_store(&sh->turn, 1);
    while (atomic_load(&sh->turn) != 0) sched_yield();
    v[r] = (now() - t0) / 2e3;
  }
  print("spinHandover", v, rounds, 0);
  while (!atomic_load(&sh->ready)) sched_yield();
  usleep(1000);  // let B fall asleep first
  for (int r = 0; r < rounds; r++) {
    uint64_t t0 = now();
    atomic_fetch_add(&sh->word[1], 1);
    futexWake(&sh->word[1]);
    unsigned seen;
    while ((seen = atomic_load(&sh->word[0])) == (unsigned)r) futexWait(&sh->word[0], seen);
    v[r] = (now() - t0) / 2e3;
  }
  waitpid(child, NULL, 0);
  print("futexHandover", v, rounds, 0);
  pagedHandover(sh, cpuB, rounds, 0, v);
  print("pagesProcesses", v, rounds, 0);
  pagedHandover(sh, cpuB, rounds, 1, v);
  print("pagesThreads", v, rounds, 0);
  memcpy(v, sh->wakeCall, sizeof(double) * rounds);
  print("futexWakeCall", v, rounds, 1);
  printf("}\n");
  return 0;
}
