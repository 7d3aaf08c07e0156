// The manager: one native thread in the process that created the region.
//
// It moves descriptors, never bytes: from every endpoint's TX ring to the RX ring its action
// names, from free rings back to the pool, from the pool into each endpoint's alloc ring (its
// buffer cache). It is the only writer of buffer ownership, so when an endpoint dies it can
// find every buffer that endpoint held and take it back.
//
// Trust: the pool's free stack, buffer ownership and each slot's identity live here, in this
// process's memory, never in the region; the region's geometry is the Region's private copy.
// Whatever it reads from memory an endpoint can write (the other side's ring index,
// descriptors, lengths, actions, a claim) is checked before use.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "region.h"

namespace xio {

struct ManagerConfig {
  uint32_t burst = 32;
  uint64_t spinNs = 100000;          // poll this long without work before sleeping
  uint64_t sleepNs = 50000000;       // longest sleep while active (at rest, up to 1 s); how late a death is noticed. 0: never sleep
  uint64_t livenessEveryNs = 20000000;
  int cpu = -1;                      // pin the thread to this CPU (-1: leave it to the scheduler)
};

class Manager {
 public:
  Manager(std::shared_ptr<Region> region, ManagerConfig config);
  ~Manager();
  // Applies a config; only while stopped (Failure BAD_CONFIG otherwise, or for a bad value).
  void configure(const ManagerConfig& config);
  void start();
  // Returns once the thread has exited. Descriptors it held for full RX rings go back to the
  // pool (counted as dropped); everything endpoints hold stays theirs.
  void stop();
  bool running() const { return thread_.joinable(); }

  // Control plane, callable while the manager runs: services and routes live in the region.
  int declare(const std::string& name);  // returns the service id (existing or new)
  void route(uint32_t from, uint32_t gate, uint32_t to);  // to = kNoService removes the route
  struct RouteChange {
    uint32_t from, gate, to;
  };
  // Applies every change at once, between two polls: no descriptor is routed by some of them
  // and not the others (a reload rewiring a chain). Returns once they are in force.
  void routes(const std::vector<RouteChange>& changes);

  // A turn of a wait by a thread of this process (an endpoint's rxWait spin): one of the
  // manager's passes if the thread runs on the manager's CPU and the manager is between passes
  // (a port beside the manager: otherwise each poll would hand the CPU to the manager's thread
  // and wait to get it back); the CPU given away once if no pass ran or it moved nothing.
  // Until the wait ends (endAssist), the thread stands aside (see run). `id`: the manager's
  // assistId(); a manager that has stopped or gone, an unpinned one, or none, leaves only the
  // yield. True if the CPU is shared with a busy task (yieldCpu) and the pass moved nothing:
  // the wait should sleep rather than spin on. (Passes that move packets go on: they are the
  // waiting thread's own work, which a busy task on its CPU does not make less.)
  static bool assistTurn(int id);
  // The wait is over: the manager's thread is back on duty at once if the waiting thread goes to
  // sleep (`sleeping`), else within kStandAsideNs.
  static void endAssist(int id, bool sleeping);
  // This manager's number for assistTurn, for its life, never another's (-1: too many managers in this process).
  int assistId() const { return assistId_; }

 private:
  static constexpr uint32_t kHeldMax = 256;
  // Held::dest beyond a service id: a packet sent to a gate whose route was paused (the gate in
  // the low bits, looked up again at delivery), or one whose gate was unwired while it waited.
  static constexpr uint16_t kHeldForGate = 0x4000;
  static constexpr uint16_t kHeldGateMask = 0x3fff;
  static constexpr uint16_t kHeldNowhere = 0x3fff;
  static constexpr uint8_t kAnyHeldInstance = 0xff;  // the flow hash picks
  static_assert((kMaxInstanceNumber | kHandoffTag) < kAnyHeldInstance, "a handoff's instance number apart from any");
  static_assert(kMaxServices < kHeldNowhere && kMaxGates <= kHeldGateMask, "held destinations: services, gates and kHeldNowhere apart");
  struct Held {  // descriptors taken from a TX ring that their destination could not take yet
    Entry entry[kHeldMax];    // as the sender packed it (index, length, flow hash, action)
    uint16_t dest[kHeldMax];  // a service, kHeldForGate | gate, or kHeldNowhere
    uint16_t from[kHeldMax];  // the service it was sent as (a placement group serves several)
    uint8_t instance[kHeldMax];  // the instance it was handed to and the tag (ToInstance), else kAnyHeldInstance
    uint32_t count = 0;
    uint32_t next = 0;
    bool pending() const { return next < count; }
  };
  // A batch of route changes posted by routes() for the thread to apply between two polls.
  std::mutex routeBatchMutex_;
  std::vector<RouteChange> routeBatch_;
  std::atomic<uint64_t> routeBatchesPosted_{0};
  std::atomic<uint64_t> routeBatchesApplied_{0};
  bool routeBatchPending() const {
    return routeBatchesPosted_.load(std::memory_order_acquire) != routeBatchesApplied_.load(std::memory_order_relaxed);
  }
  void applyRouteBatch();
  struct SlotState {
    bool active = false;
    bool detaching = false;
    // Reclaimed while its process still held the lease (it said it was leaving, or said
    // nonsense): not taken on again until that process lets go, whatever its side says.
    bool retired = false;
    uint16_t service = kNoService;  // copied once, when the slot is taken on
    uint64_t serves = 0;         // every service it serves (bit i: service i): its own, and a group's others
    bool group = false;          // serves more than one: deliveries name the service
    bool outTapped = false;      // a capture taps what it sends, as one of the services it serves (readTaps)
    // Per ring it takes from (alloc, RX): the furthest tail any mark has announced, and the
    // last mark on its TX ring and on its free ring.
    uint32_t seen[2] = {0, 0};
    uint32_t markTx[2] = {0, 0};
    uint32_t markFree[2] = {0, 0};
    uint32_t wakeRequests = 0;   // the endpoint's sleep requests already answered
    uint64_t detachingSince = 0;  // when it said it was leaving, or last made progress since
    RingRef rx, tx, alloc, free;
    Held held;
    // A capture endpoint (service kCaptureService): served copies, never a cache or a route.
    bool capture = false;
    // Which instance of its service it is (its endpoint's number, read once at take-on): the
    // key flows are spread by, so a restarted instance gets its flows back.
    uint16_t instanceId = 0;
    bool numbered = false;  // it asked for instanceId (the launcher numbers every NF instance)
    uint32_t staged = 0;       // copies written past its RX head this poll, published by flushCaptures
    uint64_t stagedBytes = 0;
    // Buffers given to it (its cache, its RX ring) and not yet back through its TX or free ring,
    // whether or not it has taken them: with its fellow instances', at most share_. A capture endpoint's are its copies (in
    // its RX ring or hands), at most ringSize.
    uint32_t buffers = 0;
    bool atShare = false;  // as last published (ManagerSide::atShare)
    // A capture endpoint with a trace tap: its index, how many packets entering the chain it
    // still wants marked, and the number of the last one marked.
    bool tracer = false;
    uint16_t traceTap = 0;
    uint32_t traceLeft = 0;
    // Numbers given so far in this slot, by any occupant (never reset: a mark from an earlier
    // trace is then told from this one's), and the count when this trace began.
    uint32_t traceCount = 0;
    uint32_t traceBase = 0;
    // Served as a capture: first come, first served, kMaxCaptures at most.
    bool served = false;
  };
  // A tap in force, read from a capture endpoint's side (CaptureTaps) and checked.
  struct TapEntry {
    uint16_t slot;     // the capture endpoint's
    uint16_t index;    // in its list: stamped on the copy (Meta::tap)
    uint16_t service;  // < kMaxServices
    uint8_t kind;      // kTapRx, kTapGate or kTapTx
    uint8_t gate;      // < kMaxGates for kTapGate
  };
  static constexpr uint32_t kAllGates = 1u << kMaxGates;  // outTaps_: a kTapTx tap

  void run();
  bool pollOnce();
  void wakeThread();
  void refreshSlots();
  void checkLiveness();  // checkLeases, then sweep
  void checkLeases();
  bool liveAs(uint32_t j, uint64_t serves, uint16_t number) const;
  uint16_t freeInstanceNumber(uint32_t s) const;
  void holdNumber(uint32_t s);
  // A claim as the manager read it from the claimer's side, once: what it serves and asks to be.
  struct Claim {
    uint16_t service;
    uint16_t instance;  // kUnnumbered: the manager numbers it
    uint64_t also;
  };
  uint64_t servesOf(const Claim& claim) const;
  uint16_t numberHolder(uint32_t s, uint64_t serves, uint16_t number) const;
  void takeOn(uint32_t slot, const Claim& claim);
  enum class Leaving { Detached, Died, Faulted };
  void reclaim(uint32_t slot, Leaving how);
  void fault(uint32_t slot);  // cut off at the end of this poll
  void cutOff();
  void resetSides(uint32_t slot);
  void freeWaiting(uint32_t slot);
  void markTaken(uint32_t slot, uint32_t* ringMarks, uint32_t mark);
  void traceHop(uint32_t d, uint16_t service, uint32_t act, uint32_t length);
  bool holds(uint32_t slot, uint32_t desc, const uint32_t* ringMarks) const;
  bool ringTaken(uint32_t slot, uint32_t kind, uint32_t* tail) const;
  void sweep();
  bool allocTaken(uint32_t slot, uint32_t* tail);
  uint32_t drainFree(uint32_t slot);
  uint32_t routeTx(uint32_t slot);
  uint32_t discardCaptureTx(uint32_t slot);
  void readTaps();
  void tapOut(uint32_t desc, uint16_t service, uint32_t gate, uint32_t length);
  void tapRx(uint32_t desc, uint16_t service, uint16_t from, uint32_t length);
  // The copy's buffer, or kNoBuffer when it could not be made (counted lost).
  uint32_t copyTo(uint32_t captureSlot, uint32_t tapIndex, uint32_t desc, uint16_t seenFrom, uint32_t length, uint32_t act);
  static constexpr uint32_t kNoBuffer = 0xffffffff;
  void flushCaptures();
  uint32_t deliverHeld(uint32_t slot);
  uint32_t refill(uint32_t slot);
  // An endpoint's count of buffers (SlotState::buffers), kept and published for observers.
  void gave(uint32_t slot, uint32_t n);
  void tookBack(uint32_t slot, uint32_t n);
  // Room left in the share of the slot's endpoint: its instances together hold at most share_
  // (a faulty NF run as several instances must not take a share for each).
  uint32_t roomInShare(uint32_t slot) const { return share_ - std::min(share_, heldAgainstShare(slot)); }
  uint32_t heldAgainstShare(uint32_t slot) const {
    uint16_t service = slots_[slot].service;
    return service < kMaxServices ? serviceBuffers_[service] : slots_[slot].buffers;
  }
  void wakeEndpoint(uint32_t slot);
  uint16_t pick(uint32_t service, uint32_t flowHash) const;
  // The live slot of a service's instance by number, or kNoSlot.
  uint16_t instanceSlot(uint32_t service, uint32_t number) const;
  // The slot a held packet goes to: the instance it was handed to, or the one its flow hash picks.
  uint16_t slotFor(const Held& held, uint32_t i) const;
  void recycle(uint32_t desc);
  void publishPool();
  void dropHeld();
  bool anyInput();
  // Sleeps on the doorbell unless there is work: woken, or the whole timeout slept (cut to
  // kHeldRetryNs while it holds descriptors for a full ring: a held retry).
  enum class Slept { Woken, TimedOut, HeldRetry };
  Slept sleep(uint64_t timeoutNs, std::unique_lock<std::mutex>& pass);
  // Off the CPU while another thread of this process waits on it making the passes (assist),
  // without the doorbell flag, so endpoints do not wake it either; back when that wait goes to
  // sleep, at most kStandAsideNs after it ends otherwise, and at most twice that once no pass
  // is made for it.
  void standAside(std::unique_lock<std::mutex>& pass);
  static constexpr uint64_t kStandAsideNs = 1000000;

  std::shared_ptr<Region> region_;
  Header* h_;
  Doorbell* doorbell_;
  Geometry g_;
  uint32_t capacity_;  // packet bytes a buffer holds
  uint32_t share_;     // the most buffers one endpoint may hold, all its instances together (see the constructor)
  ManagerConfig config_;
  int leaseQuery_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // Held by whoever runs a pass: the thread, except while it yields, sleeps or stands aside, or
  // an assisting thread (assist), so the state below is only ever touched by one thread at a time.
  std::mutex passLock_;
  int assistId_ = -1;
  bool assist();
  std::atomic<uint32_t> assisting_{0};      // 1 while a thread waits making passes (assistTurn to endAssist)
  std::atomic<uint64_t> assistedPasses_{0};  // passes made by assist()
  uint64_t assistedPassesSeen_ = 0;          // by the thread, as it last stood aside
  std::vector<SlotState> slots_;
  std::vector<uint32_t> active_;                  // slot indices being served
  std::vector<uint32_t> faulted_;                 // to cut off once the poll is over
  std::vector<std::vector<uint16_t>> instances_;  // per service: its live slots
  std::vector<uint32_t> serviceBuffers_;          // per service: its instances' SlotState::buffers, summed
  // The numbers of instances that asked for theirs and died or were cut off (holdNumber): the
  // launcher restarts such an NF under its number, so none is given to an endpoint that asks
  // for no number meanwhile (the two would share it). An instance asking for it takes it back,
  // for the services it serves.
  struct HeldNumber {
    uint64_t serves;
    uint16_t number;
  };
  std::vector<HeldNumber> heldNumbers_;
  uint64_t live_ = 0;                             // bit i: service i has a live instance
  // The pool: a free stack, and per buffer who has it (a slot, a slot's cache, the manager
  // in flight, or the pool).
  std::vector<uint32_t> freeStack_;
  uint32_t poolFree_;
  std::vector<uint32_t> owners_;
  // Per buffer, the trace mark the manager gave the packet in it (0: none). Kept here, not
  // trusted from Meta::trace, which endpoints can write: a forged or stale mark follows nothing.
  std::vector<uint32_t> traceOf_;
  // Capture: the taps in force by capture slot, and per service a summary the routing path
  // reads (manager memory, rebuilt with the slot lists): bit g of outTaps_ for a tap on gate g,
  // kAllGates for one on all it sends; rxTaps_ for one on what it receives. All zero when no
  // capture is attached, so routing then pays a load and a predictable branch per burst.
  // taps_ is sorted by service, then capture slot: a service's taps are taps_[tapStart_, +tapCount_).
  std::vector<TapEntry> taps_;
  uint16_t tapStart_[kMaxServices] = {};
  uint16_t tapCount_[kMaxServices] = {};
  std::vector<uint32_t> captures_;  // capture slots served now (at most kMaxCaptures)
  uint16_t outTaps_[kMaxServices] = {};
  uint8_t rxTaps_[kMaxServices] = {};
  // What copies may cost the chain: none below captureReserve_ free buffers, at most
  // captureBudget_ held by all capture endpoints together, at most kCopiesPerPoll made per poll.
  uint32_t captureReserve_;
  uint32_t captureBudget_;
  uint32_t captureHeld_ = 0;
  uint32_t copiesThisPoll_ = 0;
  static constexpr uint32_t kCopiesPerPoll = 1024;
  uint64_t captureClock_ = 0;   // CLOCK_REALTIME stamped on this poll's copies (0: not read yet)
  // Some capture endpoint traces: routing looks at each packet's trace mark (else one branch per burst).
  bool tracing_ = false;
  uint32_t seenClaims_ = ~0u;
  uint64_t lastLiveness_ = 0;
  Entry scratch_[1024];
};

}  // namespace xio
