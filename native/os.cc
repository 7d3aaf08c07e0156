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
