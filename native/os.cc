#include "os.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace xio {

uint64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

namespace {
// Per thread: the threads of one process may sit on different CPUs.
thread_local uint64_t sharedUntilNs = 0;
// When a yield last found a stranger running: one now and then is the system's own work; two
// within kStrangerAgainNs are a task that keeps the CPU.
thread_local uint64_t strangerAtNs = 0;
constexpr uint64_t kStrangerAgainNs = 20000000;
// This process's CPU time, and when it was read: at most every kCpuSampleNs, as a read costs
// about what a yield does (a system call, ~1 µs here).
thread_local uint64_t sampledAtNs = 0, sampledCpuNs = 0;
constexpr uint64_t kCpuSampleNs = 1000000;

uint64_t processCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}
}  // namespace

bool yieldCpu() {
  uint64_t before = nowNs();
  if (before - sampledAtNs > kCpuSampleNs) {
    sampledAtNs = before;
    sampledCpuNs = processCpuNs();
  }
  sched_yield();
  uint64_t after = nowNs();
  if (after - before > kLongYieldNs) {
    // Another task ran all that while: a thread of this process at its work (the launcher's
    // ports beside the manager), which is no contention, or a stranger. This process had less
    // than half the time since the sample (up to a millisecond before the yield) if a stranger.
    uint64_t cpu = processCpuNs();
    if (cpu - sampledCpuNs < (after - sampledAtNs) / 2) {
      if (after - strangerAtNs < kStrangerAgainNs) sharedUntilNs = after + kSharedCpuNs;
      strangerAtNs = after;
    }
    sampledAtNs = after;
    sampledCpuNs = cpu;
  }
  return after < sharedUntilNs;
}

bool cpuShared() { return sharedUntilNs != 0 && nowNs() < sharedUntilNs; }

uint64_t realtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

bool pinThisThread(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;  // 0: the calling thread, not its whole process
}

bool futexWait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeoutNs) {
  timespec ts{time_t(timeoutNs / 1000000000ull), long(timeoutNs % 1000000000ull)};
  long rc = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected,
                    timeoutNs ? &ts : nullptr, nullptr, 0);
  // EAGAIN: the word changed before the wait began, a wake that came first, not a timeout.
  return rc == 0 || errno == EAGAIN;
}

bool futexWaitAny(std::atomic<uint32_t>* const* words, const uint32_t* expected, uint32_t n, uint64_t timeoutNs) {
  futex_waitv waiters[kFutexWaitMax] = {};
  if (n > kFutexWaitMax) n = kFutexWaitMax;
  for (uint32_t i = 0; i < n; i++) {
    waiters[i].val = expected[i];
    waiters[i].uaddr = uint64_t(reinterpret_cast<uintptr_t>(words[i]));
    waiters[i].flags = FUTEX_32;  // shared, as futexWait's: the wakers are other processes
  }
  // futex_waitv takes an absolute deadline on the clock it is given.
  uint64_t deadline = nowNs() + timeoutNs;
  timespec ts{time_t(deadline / 1000000000ull), long(deadline % 1000000000ull)};
  long rc = syscall(SYS_futex_waitv, waiters, n, 0, &ts, CLOCK_MONOTONIC);
  if (rc >= 0 || errno == EAGAIN) return true;
  if (errno == EINTR || errno == ETIMEDOUT) return false;
  // No futex_waitv here (a kernel before 5.16: ENOSYS; a seccomp filter that does not know it:
  // EPERM): a nap on the first word, so a caller that loops polls every 16 ms, never spins.
  futexWait(words[0], expected[0], std::min<uint64_t>(timeoutNs, kFutexWaitAnyFallbackNs));
  return false;
}

void futexWake(std::atomic<uint32_t>* word) {
  // Everyone: an rxWait and a readable() may wait on one word.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

}  // namespace xio
