#include "os.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace xio {

uint64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
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

uint64_t processStartTime(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  // Only a missing entry means gone; anything else (hidepid, out of descriptors) cannot tell.
  if (!f) return errno == ENOENT ? 0 : kStartTimeUnknown;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  // The command name may hold spaces and parentheses; fields resume after the last ')'.
  char* p = strrchr(buf, ')');
  if (!p) return 0;
  char state = 0;
  unsigned long long start = 0;
  // After ')': state is field 3, starttime field 22.
  int matched = sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                       &state, &start);
  if (matched != 2 || state == 'Z' || state == 'X') return 0;
  return start;
}

bool processAlive(int pid, uint64_t startTime) {
  if (pid <= 0 || startTime == 0) return false;
  uint64_t now = processStartTime(pid);
  return now == startTime || now == kStartTimeUnknown;
}

}  // namespace xio
