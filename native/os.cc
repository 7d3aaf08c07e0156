#include "os.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

bool futexWait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeoutNs) {
  timespec ts{time_t(timeoutNs / 1000000000ull), long(timeoutNs % 1000000000ull)};
  long rc = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected,
                    timeoutNs ? &ts : nullptr, nullptr, 0);
  return rc == 0;
}

void futexWake(std::atomic<uint32_t>* word) {
  // Everyone: an rxWait and a readable() may wait on one word.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

}  // namespace xio
