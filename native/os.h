// The few operating-system services the data plane needs: futexes, clocks and placement. (Who is alive is
// told by leases, OFD locks on the region file: see region.h.)
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace xio {

// A failure a user can cause, with a stable code the TypeScript layer maps to a typed error.
struct Failure {
  std::string code;
  std::string message;
};

uint64_t nowNs();
// Wall-clock time in ns since the epoch (CLOCK_REALTIME), for capture timestamps.
uint64_t realtimeNs();

// Gives the CPU away once (sched_yield) and says whether this thread's CPU is shared with a
// task that never sleeps. A yield hands over to a waiting peer in a microsecond or two, but
// where such a task shares the CPU, the kernel (EEVDF) lets it run out its slice first:
// milliseconds, so a wait made of yields would move one burst per slice (a grouped chain
// measured 38x slower beside one busy loop). A yield that took over kLongYieldNs while this
// process had less than half that time ran a stranger; two within 20 ms say the CPU is shared,
// for kSharedCpuNs. A caller told so should wait on a futex instead, whose waker runs in
// microseconds however busy the CPU.
constexpr uint64_t kLongYieldNs = 500000;
constexpr uint64_t kSharedCpuNs = 50000000;
bool yieldCpu();
// Whether a yield of this thread found its CPU shared within the last kSharedCpuNs; no yield.
bool cpuShared();

// Pins the calling thread to one CPU; a negative cpu leaves it where it is. False if the
// kernel refused (a CPU outside this process's cpuset, say): the thread runs where it was.
bool pinThisThread(int cpu);

// Sleeps while *word == expected, at most timeoutNs (0: no limit). Shared (not private)
// futexes, since the waker is another process. Returns true if woken, false on timeout.
bool futexWait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeoutNs);
void futexWake(std::atomic<uint32_t>* word);
// futexWait on several words at once (futex_waitv, Linux 5.16): sleeps while every words[i]
// holds expected[i], until one of them is woken or timeoutNs passes; at most kFutexWaitMax.
// Returns true if woken (or a word had changed already), false on timeout. Without
// futex_waitv (before 5.16, or refused by a seccomp filter): a nap of at most
// kFutexWaitAnyFallbackNs on the first word, for a caller that loops.
constexpr uint32_t kFutexWaitMax = 128;
constexpr uint64_t kFutexWaitAnyFallbackNs = 16000000;
bool futexWaitAny(std::atomic<uint32_t>* const* words, const uint32_t* expected, uint32_t n, uint64_t timeoutNs);

// Wakes a sleeper whose flag says it sleeps, after the caller changed `word`, a word the
// sleeper waits on as it read it before setting its flag (the flag itself may be read-only to
// the caller): a change before the wait began makes it return at once, a change after is
// woken. The seq_cst fence orders the caller's publication (and the change) before the flag
// read, pairing with the sleeper's store-then-recheck. The flag is woken too: a sleeper
// without futex_waitv naps on the flag alone. Two callers at once may both wake: a spare
// wake, never a lost one.
inline bool wakeIfSleeping(const std::atomic<uint32_t>* flag, std::atomic<uint32_t>* word) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (flag->load(std::memory_order_relaxed) == 0) return false;
  futexWake(word);
  futexWake(const_cast<std::atomic<uint32_t>*>(flag));
  return true;
}

// wakeIfSleeping, ringing `bell` (a word of the caller's own that the sleeper waits on) as
// the change: bumped only when the flag says so, and after that read (release), so the
// sleeper that reads the bumped value also sees what the caller published before.
inline bool ringIfSleeping(const std::atomic<uint32_t>* flag, std::atomic<uint32_t>* bell) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (flag->load(std::memory_order_relaxed) == 0) return false;
  bell->fetch_add(1, std::memory_order_release);
  futexWake(bell);
  futexWake(const_cast<std::atomic<uint32_t>*>(flag));
  return true;
}

}  // namespace xio
