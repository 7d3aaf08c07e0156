// An endpoint's side of its slot: the producer of its TX and free rings, the consumer of its
// RX and alloc rings. Every call moves a burst; none takes a lock.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "region.h"

namespace xio {

class Endpoint {
 public:
  // Claims a free slot for a declared endpoint name: takes the slot's lease (an OFD lock the
  // kernel drops when this process dies), then fills in the slot and says it is active.
  // Throws Failure: UNKNOWN_ENDPOINT, NO_SLOT, MANAGER_GONE.
  // A capture endpoint (capture true; name unused) is no service of the chain: it is named
  // capture:<pid>, has no buffer cache and sends nothing; it receives copies of what its taps
  // (setTaps) see, and frees them.
  // instance: which instance of its endpoint this is (the launcher's index, kept across
  // restarts, so the manager sends it the same flows); kAnyInstance: the next free number.
  // also: other endpoint names this one serves too, as a placement group's process serves each
  // of its NFs (UNKNOWN_ENDPOINT if one is not declared).
  Endpoint(std::shared_ptr<Region> region, const std::string& name, uint64_t spinNs, bool capture = false, int instance = kAnyInstance,
           const std::vector<std::string>& also = {});
  static constexpr int kAnyInstance = -1;
  ~Endpoint();

  uint32_t rx(uint32_t* descs, uint32_t max);
 private:
  // Takes from the RX ring; a manager waiting for room there is woken.
  uint32_t take(uint32_t* descs, uint32_t max);
 public:
  uint32_t tx(const uint32_t* descs, uint32_t n);
  uint32_t malloc(uint32_t* descs, uint32_t n);
  void free(const uint32_t* descs, uint32_t n);  // waits for room; the manager always drains
  // rx that polls for spinNs (unless spin is false: the caller has polled already), then sleeps
  // on the slot's futex word, for at most timeoutNs.
  uint32_t rxWait(uint32_t* descs, uint32_t max, uint64_t timeoutNs, bool spin = true);
  uint64_t spinNs() const { return spinNs_; }
  // Blocks until the RX ring has work (true), or the timeout passes or the endpoint closes (false).
  bool waitReadable(uint64_t timeoutNs);
  // waitReadable in steps, for a thread that sleeps on several endpoints at once (the addon's
  // RxWaiter): armWait asks the manager to bump the slot's wake word at its next delivery and
  // says whether there is no need to sleep (work there already, or the endpoint closed or cut
  // off); otherwise *seq is the word's value to sleep on (futexWaitAny on wakeWord()). Each
  // armWait is paired with a disarm; detach() waits for it.
  bool armWait(uint32_t* seq);
  void disarm() { waiters_.fetch_sub(1); }
  std::atomic<uint32_t>* wakeWord() const { return &managerSide_->wakeSeq; }
  // Around a sleep on the wake word while armed: counted for observers (asleep, sleeps).
  void beginSleep() { side_->asleep.fetch_add(1, std::memory_order_relaxed); }
  void endSleep() {
    side_->asleep.fetch_sub(1, std::memory_order_relaxed);
    side_->counters.sleeps++;
  }
  void detach();
  // A capture endpoint's taps (tapWord each, at most kMaxTaps; Failure BAD_TAPS otherwise):
  // written to its side, then the manager is rung. Returns the sequence number waitTaps takes.
  uint32_t setTaps(const uint32_t* words, uint32_t n);
  // Whether the manager has read the taps of that setTaps call (it then copies by them, and
  // by no earlier ones), waiting at most timeoutNs.
  bool waitTaps(uint32_t seq, uint64_t timeoutNs);
  bool capture() const { return capture_; }

  uint32_t slotIndex() const { return slot_; }
  uint32_t serviceId() const { return service_; }
  bool closed() const { return closed_.load(); }
  // Cut off by the manager for breaking the ring protocol (see kSlotFaulted).
  bool faulted() const { return managerSide_->state.load(std::memory_order_relaxed) == kSlotFaulted; }
  const std::shared_ptr<Region>& region() const { return region_; }
  // Native threads (an afpacket port) take over the data path: while they drive it, the
  // JavaScript side must not call it (two producers on one ring) nor detach under them.
  // drive() is false if something drives it already.
  bool drive() { return !driven_.exchange(true); }
  void release() { driven_.store(false); }
  bool driven() const { return driven_.load(); }

  // Wakes the manager if it sleeps (counted in wakesSent): every call that publishes does.
  void wakeManager();

 private:
  void awaitService();
  // Publishes descs on a TX or free ring, led by a mark for each of its alloc and RX rings it
  // has taken from since that ring's last marks. Returns how many descriptors went in.
  // withMeta: a TX ring, whose entries carry what the manager routes by (entryFor).
  uint32_t publish(const RingRef& ring, uint32_t* marked, const uint32_t* descs, uint32_t n, bool withMeta);
  Entry entryFor(uint32_t d, bool withMeta) const;
  void requireOpen() const;
  std::shared_ptr<Region> region_;
  EndpointSide* side_;
  ManagerSide* managerSide_;
  RingRef rx_, tx_, alloc_, free_;
  // Alloc and RX tails last announced on each ring.
  uint32_t markedTx_[2] = {0, 0}, markedFree_[2] = {0, 0};
  uint32_t slot_;
  uint32_t bufferCount_;  // from this process's own geometry: an index at or past it is no buffer
  uint16_t service_;
  bool capture_;
  uint32_t tapsSeq_ = 0;
  uint64_t spinNs_;
  std::atomic<bool> closed_{false};
  std::atomic<int> waiters_{0};  // threads in waitReadable, or armed (armWait)
  std::atomic<bool> driven_{false};
};

}  // namespace xio
