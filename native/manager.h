// The manager: one native thread in the process that created the region.
//
// It moves descriptors, never bytes: from every endpoint's TX ring to the RX ring its action
// names, from free rings back to the pool, from the pool into each endpoint's alloc ring (its
// buffer cache). It is the only writer of buffer ownership, so when an endpoint dies it can
// find every buffer that endpoint held and take it back.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "region.h"

namespace xio {

struct ManagerConfig {
  uint32_t burst = 32;
  uint64_t spinNs = 100000;          // poll this long without work before sleeping
  uint64_t sleepNs = 50000000;       // longest sleep; bounds how late a death is noticed
  uint64_t livenessEveryNs = 20000000;
  int cpu = -1;                      // pin the thread to this CPU (-1: leave it to the scheduler)
};

class Manager {
 public:
  Manager(std::shared_ptr<Region> region, ManagerConfig config);
  ~Manager();
  void start();
  void stop();  // returns once the thread has exited
  bool running() const { return thread_.joinable(); }

  // Control plane, callable while the manager runs: services and routes live in the region.
  int declare(const std::string& name);  // returns the service id (existing or new)
  void route(uint32_t from, uint32_t gate, uint32_t to);  // to = kNoService removes the route

 private:
  struct Held {  // descriptors taken from a TX ring that their destination could not take yet
    uint32_t desc[256];
    uint16_t dest[256];
    uint32_t count = 0;
    uint32_t next = 0;
  };
  struct SlotState {
    bool active = false;
    bool detaching = false;
    uint16_t service = 0;
    uint64_t verifiedAt = 0;  // last full (/proc) liveness check of its process
    Held held;
  };

  void run();
  bool pollOnce();
  void refreshSlots();
  void checkLiveness();
  void reclaim(uint32_t slot, bool died);
  uint32_t drainFree(uint32_t slot);
  uint32_t routeTx(uint32_t slot);
  uint32_t deliverHeld(uint32_t slot);
  uint32_t refill(uint32_t slot);
  uint16_t pick(uint32_t service, uint32_t flowHash) const;
  void recycle(uint32_t desc);
  bool anyInput();
  void sleep();

  std::shared_ptr<Region> region_;
  Header* h_;
  ManagerConfig config_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<SlotState> slots_;
  std::vector<uint32_t> active_;                // slot indices being served
  std::vector<std::vector<uint16_t>> instances_;  // per service: its live slots
  uint32_t seenGeneration_ = ~0u;
  uint64_t lastLiveness_ = 0;
  uint32_t scratch_[1024];
};

}  // namespace xio
