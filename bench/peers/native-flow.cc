// The throughput benchmark's two ends (bench/endpoint.ts blast and drain) on the project's own
// native endpoint, native/endpoint.cc: the C++ side of the same protocol the JavaScript rings
// speak, which the AF_PACKET port moves packets with. Beside the JavaScript ends, on the same
// manager, it tells the manager's share of producer → manager → consumer from the endpoints':
// each end does the same work per packet (malloc resets a buffer's metadata and the producer
// sets its length; rx writes the sender, action and length from the entry), in C++.
//
//   native-flow blast <prefix> <name> <cpu> <ms> <size>
//     malloc + tx bursts of 32 for <ms>, yielding while the TX ring is full; prints {"sent": N}
//   native-flow drain <prefix> <name> <cpu>
//     rxWait + free until SIGTERM; prints {"received": N}
// Either exits with status 3 once the manager is gone, as bench/endpoint.ts's do, and dies with
// the benchmark's process, whose thread the manager is.
// Built by the benchmark with the system compiler, against native/*.cc (bench/floor.ts).
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "endpoint.h"
#include "os.h"
#include "region.h"

using namespace xio;

namespace {

constexpr uint32_t kBurst = 32;
constexpr uint64_t kSpinNs = 500'000;  // as the JavaScript ends: 500 µs of polling before a sleep
volatile sig_atomic_t stopping = 0;

uint64_t blast(Endpoint& e, Region& region, uint64_t ms, uint32_t size) {
  uint32_t burst[kBurst];
  uint64_t sent = 0, end = nowNs() + ms * 1'000'000;
  for (uint32_t round = 0; !stopping; round++) {
    if ((round & 1023) == 0 && nowNs() > end) break;
    uint32_t n = e.malloc(burst, kBurst);
    for (uint32_t i = 0; i < n; i++) region.meta(burst[i])->length = size;
    uint32_t done = e.tx(burst, n);
    for (uint32_t tries = 1; done < n && !stopping; tries++) {
      sched_yield();
      if ((tries & 1023) == 0 && !region.managerAlive()) _exit(3);  // nobody will drain the ring
      done += e.tx(burst + done, n - done);
    }
    sent += done;
  }
  return sent;
}

uint64_t drain(Endpoint& e, const Region& region) {
  uint32_t burst[kBurst];
  uint64_t received = 0;
  while (!stopping) {
    uint32_t n = e.rxWait(burst, kBurst, 50'000'000);
    if (n) e.free(burst, n);
    else if (!region.managerAlive()) _exit(3);  // the benchmark died: leave with its manager
    received += n;
  }
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "blast" && argc == 7) || (mode == "drain" && argc == 5))) {
    fprintf(stderr, "usage: native-flow blast <prefix> <name> <cpu> <ms> <size> | drain <prefix> <name> <cpu>\n");
    return 2;
  }
  struct sigaction stop = {};
  stop.sa_handler = [](int) { stopping = 1; };
  sigaction(SIGTERM, &stop, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  pinThisThread(atoi(argv[4]));
  try {
    std::shared_ptr<Region> region = Region::attach(argv[2], false);
    Endpoint e(region, argv[3], kSpinNs);
    if (mode == "blast") {
      uint64_t sent = blast(e, *region, strtoull(argv[5], nullptr, 10), uint32_t(atoi(argv[6])));
      printf("{\"sent\": %llu}\n", (unsigned long long)sent);
    } else {
      printf("{\"received\": %llu}\n", (unsigned long long)drain(e, *region));
    }
    e.detach();
  } catch (const Failure& f) {
    fprintf(stderr, "native-flow: %s: %s\n", f.code.c_str(), f.message.c_str());
    return 1;
  }
  return 0;
}
