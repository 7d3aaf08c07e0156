#include "manager.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "os.h"
#include "ring.h"

namespace xio {

namespace {
constexpr uint16_t kNoSlot = 0xffff;
// Who has a buffer, in the top byte of owners_[d]: a slot index (known to be in that
// endpoint's hands), that index with kCached (put in its alloc ring) or kInRx (put in its RX
// ring) while its marks have not yet said it was taken, the manager (in flight) or the pool.
// For kCached and kInRx the low 24 bits hold the buffer's position in that ring: one word per
// buffer, one cache miss at most.
constexpr uint32_t kOwnerShift = 24;
constexpr uint32_t kCached = 0x40;
constexpr uint32_t kInRx = 0x80;
constexpr uint32_t kSlotBits = 0x3f;
static_assert(kMaxSlots <= kCached, "a slot index and kCached share the owner byte");
constexpr uint32_t kOwnerManager = 0xfe;
constexpr uint32_t kOwnerPool = 0xff;
constexpr uint32_t owned(uint32_t who, uint32_t position = 0) { return who << kOwnerShift | (position & 0xffffff); }
constexpr uint32_t ownerOf(uint32_t word) { return word >> kOwnerShift; }
// Whether ring position `word` (its low 24 bits) lies before `bound`: positions are 24 bits, and
// the sweep keeps every position it still has to judge within 2^23 of its ring's marks.
inline bool before(uint32_t word, uint32_t bound) { return (int32_t(((bound - word) & 0xffffff) << 8) >> 8) > 0; }
enum Taken : uint32_t { kFromAlloc = 0, kFromRx = 1 };
constexpr uint64_t kHeldRetryNs = 1000000;  // a full RX ring does not wake us when it drains
// What an endpoint may hold beyond a full RX ring and cache before a small pool is shared out
// (Manager::share_): a generator's pump is 256, an NF's burst 32.
constexpr uint32_t kShareInHand = 1024;
// The longest sleep of a manager with nothing to do (each idle sleep that ran to its timeout
// doubles the next, from ManagerConfig::sleepNs): how late, at rest, it finds a death that
// nothing else wakes it for. Any wake-up finds it first (see run()).
constexpr uint64_t kRestingSleepNs = 1000000000;
constexpr uint64_t kDetachDrainNs = 10000000000;  // a leaving endpoint is reclaimed after this long without progress
// The managers of this process a thread may assist (Manager::assistTurn), one slot each, found
// by assistId: the slot in its low bits. assistedMutex is held through a pass, so stop() never
// returns while another thread makes one.
constexpr int kAssistedSlotBits = 6;
constexpr int kMaxAssisted = 1 << kAssistedSlotBits;
struct AssistedSlot {
  bool taken = false;          // by a Manager, for its life
  Manager* running = nullptr;  // while it runs pinned
  // Its CPU + 1 while it runs pinned (0: none), read without the lock: a thread on another CPU,
  // which never assists, only yields.
  std::atomic<int> cpuPlusOne{0};
};
std::mutex assistedMutex;
AssistedSlot assistedSlots[kMaxAssisted];
AssistedSlot& assistedSlot(int id) { return assistedSlots[id & (kMaxAssisted - 1)]; }

uint16_t loadRoute(const uint16_t* r) { return __atomic_load_n(r, __ATOMIC_RELAXED); }

// The gate an action sends through (kMaxGates: none, a named destination or a drop).
uint32_t gateOf(uint32_t act) {
  uint32_t kind = act >> 24, arg = act & 0xffffff;
  return kind == kActionGate ? arg : kind == kActionGateOf ? (arg & 0xff) : kMaxGates;
}

// The action a TX entry packs, if it is one packAction makes (every argument in range);
// otherwise kActionInvalid, routed nowhere. The entry is the sender's to write: its packing is
// checked here, where it is trusted, not where it was done. (packAction's checks, on the
// packed form: a group's member and gate are 6 and 3 bits of arg, so arg < 512.)
inline uint32_t decodeAction(uint32_t packed) {
  uint32_t kind = packed >> 12 & 7, arg = packed & 0xfff;
  bool valid = (kind == kActionGate && arg < kMaxGates) || (kind == kActionTo && arg < kMaxServices) ||
               (kind == kActionDrop && (arg >> kDropAsShift) <= kMaxServices) || (kind == kActionLost && arg <= kMaxGates) ||
               (kind == kActionGateOf && arg < (kMaxServices << 3)) || (kind == kActionToInstance && arg < (kMaxServices << 6));
  return valid ? unpackAction(packed) : action(kActionInvalid, 0);
}
static_assert(kMaxGates == 8, "decodeAction: a group's gate is 3 bits of a packed argument");

// An action as a trace shows it: a group's gate of one of its services as a plain gate (the
// hop already names the service).
uint32_t asSeen(uint32_t act) { return act >> 24 == kActionGateOf ? action(kActionGate, act & 0xff) : act; }

void addCounters(RouteCounters& to, const RouteCounters& from) {
  to.rxPackets += from.rxPackets;
  to.rxBytes += from.rxBytes;
  to.txPackets += from.txPackets;
  to.txBytes += from.txBytes;
  to.dropped += from.dropped;
  to.noRoute += from.noRoute;
  to.freed += from.freed;
  to.wakes += from.wakes;
  to.reclaimed += from.reclaimed;
  to.lost += from.lost;
  to.invalid += from.invalid;
  to.captured += from.captured;
  to.captureLost += from.captureLost;
  to.consumed += from.consumed;
}
}  // namespace

Manager::Manager(std::shared_ptr<Region> region, ManagerConfig config)
    : region_(std::move(region)),
      h_(region_->header()),
      doorbell_(region_->doorbell()),
      g_(region_->geometry()),
      capacity_(g_.bufferSize - g_.dataOffset),
      // No endpoint holds more than half the pool, all its instances together (roomInShare):
      // one that keeps everything it is given or allocates (a faulty NF, however many of it
      // run) then stalls what goes through it, as a full RX ring would, and the rest of the
      // chain still finds buffers. Not less than half: NFs that send to each
      // other in a cycle (a placement group and an NF between two of its members), each
      // keeping what the other cannot take yet, could then both reach their shares and wait on
      // each other for ever; two halves cannot both be full while the manager holds what one
      // sent. A pool so small that half of it would not hold a full RX ring, a full cache and
      // a pump's worth in hand is shared out no further.
      share_(std::max(g_.bufferCount / 2, std::min(g_.bufferCount, g_.ringSize + g_.cacheSize + kShareInHand))),
      leaseQuery_(region_->openLeaseQuery()),
      // A quarter of the pool stays the chain's: copies are made only above it; and however many
      // captures, they hold an eighth of it at most.
      captureReserve_(g_.bufferCount / 4),
      captureBudget_(std::max(1u, g_.bufferCount / 8)) {
  h_->endpointShare = share_;
  configure(config);
  {
    // A slot, and a generation in the bits above it, so an endpoint that outlives this manager
    // never assists the next one in its slot.
    std::lock_guard<std::mutex> lock(assistedMutex);
    static uint32_t generation = 0;
    generation = (generation + 1) & 0xffffff;
    for (int slot = 0; slot < kMaxAssisted && assistId_ < 0; slot++)
      if (!assistedSlots[slot].taken) {
        assistedSlots[slot].taken = true;
        assistId_ = int(generation << kAssistedSlotBits) | slot;
      }
  }
  slots_.resize(g_.slots);
  for (uint32_t s = 0; s < g_.slots; s++) {
    slots_[s].rx = region_->ring(s, kRingRx);
    slots_[s].tx = region_->ring(s, kRingTx);
    slots_[s].alloc = region_->ring(s, kRingAlloc);
    slots_[s].free = region_->ring(s, kRingFree);
    region_->managerSide(s)->instance = kUnnumbered;  // until an endpoint is taken on there
  }
  instances_.resize(kMaxServices);
  serviceBuffers_.assign(kMaxServices, 0);
  taps_.reserve(size_t(kMaxSlots) * kMaxTaps);  // readTaps never allocates in the manager thread
  captures_.reserve(kMaxSlots);
  // Every buffer starts on the free stack, lowest index on top.
  freeStack_.resize(g_.bufferCount);
  owners_.assign(g_.bufferCount, owned(kOwnerPool));
  traceOf_.assign(g_.bufferCount, 0);
  for (uint32_t i = 0; i < g_.bufferCount; i++) freeStack_[i] = g_.bufferCount - 1 - i;
  poolFree_ = g_.bufferCount;
  publishPool();
}

Manager::~Manager() {
  stop();
  if (assistId_ >= 0) {
    std::lock_guard<std::mutex> lock(assistedMutex);
    assistedSlot(assistId_).taken = false;
  }
  close(leaseQuery_);
}

void Manager::configure(const ManagerConfig& config) {
  if (running()) throw Failure{"BAD_CONFIG", "the manager's config can change only while it is stopped"};
  config_ = config;
  config_.burst = std::clamp<uint32_t>(config_.burst, 1, kHeldMax - 1);
}

void Manager::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });  // which offers its CPU to assistants once pinned there
}

void Manager::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(assistedMutex);  // waits out a pass in progress
    stop_.store(true);  // under the lock: a thread not yet registered never will be
    if (assistId_ >= 0) {
      assistedSlot(assistId_).running = nullptr;
      assistedSlot(assistId_).cpuPlusOne.store(0, std::memory_order_relaxed);
    }
  }
  wakeThread();
  assisting_.store(0);
  futexWake(&assisting_);
  thread_.join();
  dropHeld();
}

int Manager::declare(const std::string& name) {
  int existing = region_->serviceByName(name);
  if (existing >= 0) return existing;
  for (uint32_t i = 0; i < kMaxServices; i++) {
    Service* s = region_->service(i);
    if (s->declared.load(std::memory_order_relaxed)) continue;
    memset(s->name, 0, kNameLength);
    strncpy(s->name, name.c_str(), kNameLength - 1);
    for (auto& r : s->routes) r = kNoService;
    memset(&s->left, 0, sizeof s->left);
    s->declared.store(1, std::memory_order_release);
    return int(i);
  }
  throw Failure{"TOO_MANY_ENDPOINTS", "a chain holds at most " + std::to_string(kMaxServices) + " endpoint names"};
}

void Manager::route(uint32_t from, uint32_t gate, uint32_t to) {
  if (from >= kMaxServices || gate >= kMaxGates || (to >= kMaxServices && to != kNoService && to != kPausedRoute))
    throw Failure{"BAD_ROUTE", "route " + std::to_string(from) + ":" + std::to_string(gate) + " -> " +
                                   std::to_string(to) + " is out of range (gates 0.." + std::to_string(kMaxGates - 1) + ")"};
  __atomic_store_n(&region_->service(from)->routes[gate], uint16_t(to), __ATOMIC_RELEASE);
}

void Manager::routes(const std::vector<RouteChange>& changes) {
  for (const RouteChange& c : changes)
    if (c.from >= kMaxServices || c.gate >= kMaxGates || (c.to >= kMaxServices && c.to != kNoService && c.to != kPausedRoute))
      throw Failure{"BAD_ROUTE", "route " + std::to_string(c.from) + ":" + std::to_string(c.gate) + " -> " +
                                     std::to_string(c.to) + " is out of range"};
  if (!running()) {
    for (const RouteChange& c : changes) route(c.from, c.gate, c.to);
    return;
  }
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(routeBatchMutex_);
    routeBatch_.insert(routeBatch_.end(), changes.begin(), changes.end());
    ticket = routeBatchesPosted_.fetch_add(1, std::memory_order_release) + 1;
  }
  // The thread applies a batch at its next poll, microseconds away; a second is a wedged
  // manager. The wake is repeated, at no cost to a thread that took the batch already.
  uint64_t deadline = nowNs() + 1000000000ull, nextWake = 0;
  while (routeBatchesApplied_.load(std::memory_order_acquire) < ticket) {
    uint64_t now = nowNs();
    if (now > nextWake) {
      wakeThread();
      nextWake = now + 1000000;
    }
    if (now > deadline) {
      // Withdrawn, unless the thread took it meanwhile: a change reported as failed never
      // comes into force later, over whatever the caller does next.
      std::lock_guard<std::mutex> lock(routeBatchMutex_);
      if (routeBatchesApplied_.load(std::memory_order_acquire) >= ticket) return;
      routeBatch_.clear();
      routeBatchesPosted_.fetch_sub(1, std::memory_order_release);
      throw Failure{"MANAGER_STALLED", "the manager did not take the new routes within a second; they were not applied"};
    }
    sched_yield();
  }
}

void Manager::applyRouteBatch() {
  std::lock_guard<std::mutex> lock(routeBatchMutex_);
  for (const RouteChange& c : routeBatch_) route(c.from, c.gate, c.to);
  routeBatch_.clear();
  routeBatchesApplied_.store(routeBatchesPosted_.load(std::memory_order_relaxed), std::memory_order_release);
}

void Manager::run() {
  // Endpoints on this CPU may make its passes (assistTurn) only once the thread is pinned
  // there: unpinned, or refused the CPU, it has none to share.
  if (pinThisThread(config_.cpu) && config_.cpu >= 0 && assistId_ >= 0) {
    std::lock_guard<std::mutex> lock(assistedMutex);
    if (!stop_.load(std::memory_order_relaxed)) {
      assistedSlot(assistId_).running = this;
      assistedSlot(assistId_).cpuPlusOne.store(config_.cpu + 1, std::memory_order_relaxed);
    }
  }
  h_->managerTid = uint32_t(syscall(SYS_gettid));
  std::unique_lock<std::mutex> pass(passLock_);  // let go only to yield or sleep
  uint64_t idleSince = 0;
  uint64_t restNs = config_.sleepNs;  // the next sleep's timeout
  lastLiveness_ = nowNs();
  while (!stop_.load(std::memory_order_relaxed)) {
    if (doorbell_->claims.load(std::memory_order_acquire) != seenClaims_) refreshSlots();
    bool busy = pollOnce();
    h_->manager.loops++;
    if (busy) {
      h_->manager.busyLoops++;
      idleSince = 0;
      restNs = config_.sleepNs;
      if ((h_->manager.loops & 1023) == 0 && nowNs() - lastLiveness_ > config_.livenessEveryNs) checkLiveness();
      continue;
    }
    uint64_t now = nowNs();
    if (now - lastLiveness_ > config_.livenessEveryNs) checkLiveness();
    if (!idleSince) idleSince = now;
    // A thread of this process is waiting on this CPU and making the passes (assist): every
    // yield here would be a switch it waits through. Poll mode keeps its thread polling.
    if (config_.sleepNs != 0 && assisting_.load(std::memory_order_relaxed) &&
        assistedPasses_.load(std::memory_order_relaxed) != assistedPassesSeen_) {
      standAside(pass);
      idleSince = 0;  // back on duty: a spin before any sleep, as after work
      continue;
    }
    // sleepNs 0 is poll mode: a core kept for the manager, no futex round trip ever. On a CPU
    // shared with a busy task a yield waits out its slice: then sleep at once, to be woken.
    if (config_.sleepNs == 0 || (now - idleSince < config_.spinNs && !cpuShared())) {
      pass.unlock();
      yieldCpu();  // hand the core over if someone else wants it, instead of pause-spinning
      pass.lock();
    } else {
      bool resting = restNs > config_.sleepNs;
      Slept slept = sleep(restNs, pass);
      if (slept == Slept::Woken) {
        idleSince = 0;
        restNs = config_.sleepNs;
        // Woken out of a rest (up to a second): a death meanwhile is found before routing what
        // woke it, so nothing is routed to the dead. Leases only; the rest of a check follows.
        if (resting) checkLeases();
      } else {
        // Slept its whole timeout: nothing came, so nothing is likely to follow at once. Back
        // to sleep after this poll, unless it finds work, instead of polling through another
        // spin. An idle sleep that ran out makes the next twice as long, up to
        // kRestingSleepNs, so a chain at rest is not woken 20 times a second for liveness
        // checks that find nothing (a held retry's millisecond is no sign of rest).
        idleSince = now - config_.spinNs;
        if (slept == Slept::TimedOut) restNs = std::max(config_.sleepNs, std::min(restNs * 2, kRestingSleepNs));
      }
    }
  }
}

bool Manager::assistTurn(int id) {
  bool moved = false;
  if (id >= 0 && assistedSlot(id).cpuPlusOne.load(std::memory_order_relaxed) == sched_getcpu() + 1) {
    std::lock_guard<std::mutex> lock(assistedMutex);
    Manager* m = assistedSlot(id).running;
    if (m && m->assistId_ == id) moved = m->assist();
  }
  // On a CPU shared with a busy task, a pass that moved nothing ends the wait with no yield
  // (which would wait out that task's slice): the caller sleeps until woken.
  if (moved) return false;
  return cpuShared() || yieldCpu();
}

void Manager::endAssist(int id, bool sleeping) {
  if (id < 0) return;
  std::lock_guard<std::mutex> lock(assistedMutex);
  Manager* m = assistedSlot(id).running;
  if (!m || m->assistId_ != id) return;
  // A wait that ends with packets does not wake the thread: that would be a syscall, and a
  // switch to it, at the end of every wait (a round trip's worth on a ping-pong); it finds the
  // word changed within kStandAsideNs. One that goes to sleep does: nobody polls meanwhile.
  m->assisting_.store(0);
  if (sleeping) futexWake(&m->assisting_);
}

bool Manager::assist() {
  std::unique_lock<std::mutex> pass(passLock_, std::try_to_lock);
  if (!pass.owns_lock() || stop_.load(std::memory_order_relaxed)) return false;
  if (!assisting_.load(std::memory_order_relaxed)) assisting_.store(1);
  assistedPasses_.store(assistedPasses_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer: the lock's holder
  // The thread's duties before a pass, as its loop does them: new claims, and a liveness check
  // when due (the thread may have rested up to a second: nothing is routed to the dead).
  if (doorbell_->claims.load(std::memory_order_acquire) != seenClaims_) refreshSlots();
  if (nowNs() - lastLiveness_ > config_.livenessEveryNs) checkLiveness();
  bool busy = pollOnce();
  h_->manager.loops++;
  h_->manager.assistedLoops++;
  if (busy) h_->manager.busyLoops++;
  return busy;
}

void Manager::standAside(std::unique_lock<std::mutex>& pass) {
  pass.unlock();
  // A look every kStandAsideNs, or when endAssist() or stop() changes the word: back to the next
  // pass once no wait is on, or once a whole look went by without a pass made for it (the
  // waiting thread stalled: a garbage collection, another task on the CPU, a move to another
  // CPU), and then not aside again until one is. A look that finds passes made goes back to
  // sleep without the lock: the assistant keeps the CPU it is polling on.
  for (;;) {
    assistedPassesSeen_ = assistedPasses_.load(std::memory_order_relaxed);
    if (!assisting_.load(std::memory_order_relaxed) || stop_.load(std::memory_order_relaxed)) break;
    futexWait(&assisting_, 1, kStandAsideNs);
    if (assistedPasses_.load(std::memory_order_relaxed) == assistedPassesSeen_) break;
  }
  pass.lock();
}

bool Manager::pollOnce() {
  uint32_t work = 0;
  bool finishedDetaching = false;
  captureClock_ = 0;
  copiesThisPoll_ = 0;
  if (routeBatchPending()) applyRouteBatch();
  for (uint32_t s : active_) {
    SlotState& slot = slots_[s];
    work += drainFree(s);
    uint32_t moved = routeTx(s);
    work += moved;
    if (!slot.detaching) continue;
    // Reclaimed once what it sent is routed, or once nothing of it has moved for
    // kDetachDrainNs (a stuck receiver must not pin the slot and its cache for ever; a slow
    // one still gets everything).
    uint64_t now = nowNs();
    if (moved) slot.detachingSince = now;
    if ((!slot.held.pending() && !ringHasWork(slot.tx)) || now - slot.detachingSince > kDetachDrainNs) {
      reclaim(s, Leaving::Detached);
      finishedDetaching = true;
    }
  }
  // Before any slot is cut off or refreshed: what was staged for a capture goes out now.
  flushCaptures();
  for (uint32_t s : active_) {
    if (slots_[s].active && !slots_[s].detaching && !slots_[s].capture) work += refill(s);
  }
  if (!faulted_.empty()) cutOff();
  else if (finishedDetaching) refreshSlots();
  publishPool();
  return work != 0;
}

// Wakes the manager's thread from this process (stop, routes): clearing the flag, which only
// this process may write, ends a wait not yet begun as well as one under way.
void Manager::wakeThread() {
  h_->managerSleeping.store(0, std::memory_order_seq_cst);
  futexWake(&h_->managerSleeping);
}

Manager::Slept Manager::sleep(uint64_t timeoutNs, std::unique_lock<std::mutex>& pass) {
  // What it sleeps on: its flag, which its own process clears to wake it (stop, routes); the
  // claims counter as last seen (a claim or a detach bumps it); and every slot's bell as it
  // reads it now, before the flag says it sleeps: an endpoint that sees the flag rings its
  // bell, and a bell rung (a count bumped) before the wait begins ends it at once.
  constexpr uint32_t kFixed = 2;
  std::atomic<uint32_t>* words[kFixed + kMaxSlots];
  uint32_t expected[kFixed + kMaxSlots];
  words[0] = &h_->managerSleeping;  // first: the one a wait without futex_waitv naps on
  expected[0] = 1;
  words[1] = &doorbell_->claims;
  expected[1] = seenClaims_;  // as last refreshed: the re-check below does not sleep if it moved since
  for (uint32_t s = 0; s < g_.slots; s++) {
    words[kFixed + s] = &region_->endpointSide(s)->managerBell;
    expected[kFixed + s] = words[kFixed + s]->load(std::memory_order_acquire);  // acquire: not after the flag's store below
  }
  h_->managerSleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the flag, then the re-check: pairs with wakeIfSleeping
  if (anyInput() || doorbell_->claims.load() != seenClaims_ || stop_.load() || routeBatchPending()) {
    h_->managerSleeping.store(0, std::memory_order_relaxed);
    return Slept::Woken;
  }
  bool holding = false;
  for (uint32_t s : active_) holding = holding || slots_[s].held.pending();
  uint64_t timeout = holding ? std::min(kHeldRetryNs, timeoutNs) : timeoutNs;
  pass.unlock();  // an assisting thread may make passes meanwhile
  bool woken = futexWaitAny(words, expected, kFixed + g_.slots, timeout);
  // Awake: before the pass lock (an assisting thread may hold it a while), so endpoints stop
  // ringing at once. What they send meanwhile is routed by the pass this thread makes next.
  h_->managerSleeping.store(0, std::memory_order_relaxed);
  pass.lock();
  h_->manager.sleeps++;
  if (woken) h_->manager.wakeups++;
  return woken ? Slept::Woken : holding ? Slept::HeldRetry : Slept::TimedOut;
}

// Work that a poll would do now. A sender whose descriptors are held for a full ring is not
// work: nothing moves until that ring drains, which the timed retry in sleep() finds.
bool Manager::anyInput() {
  for (uint32_t s : active_) {
    SlotState& slot = slots_[s];
    if (!slot.held.pending() && ringHasWork(slot.tx)) return true;
    if (ringHasWork(slot.free)) return true;
    if (slot.detaching || slot.capture) continue;  // a capture endpoint has no cache to refill
    uint32_t taken;
    if (!allocTaken(s, &taken)) return true;  // a fault to act on
    uint32_t cached = slot.alloc.prod->head.load(std::memory_order_relaxed) - taken;
    if (poolFree_ && cached < g_.cacheSize / 2 && roomInShare(s)) return true;
  }
  return false;
}

void Manager::fault(uint32_t s) {
  if (std::find(faulted_.begin(), faulted_.end(), s) == faulted_.end()) faulted_.push_back(s);
}

// An endpoint that wrote a ring index or mark no correct endpoint writes is cut off: its
// buffers come back, it is served no more, and its calls fail with FAULTED.
void Manager::cutOff() {
  std::vector<uint32_t> faulted;
  faulted.swap(faulted_);  // reclaim() takes its slot off faulted_
  for (uint32_t s : faulted)
    if (slots_[s].active) reclaim(s, Leaving::Faulted);
  refreshSlots();
}

void Manager::recycle(uint32_t d) {
  owners_[d] = owned(kOwnerPool);
  // The buffer's next packet is not the traced one. (Marks left while no trace runs are from
  // earlier traces, whose numbers the next trace no longer accepts.)
  if (__builtin_expect(tracing_, 0)) traceOf_[d] = 0;
  freeStack_[poolFree_++] = d;
}

void Manager::publishPool() { h_->poolFree.store(poolFree_, std::memory_order_relaxed); }

// A mark on a TX or free ring: the endpoint had taken its alloc (or RX) ring up to this tail
// before publishing what follows on that ring. A mark behind the ring's last one or past what
// was published is one no correct endpoint writes.
void Manager::markTaken(uint32_t s, uint32_t* ringMarks, uint32_t mark) {
  SlotState& slot = slots_[s];
  Taken kind = mark & kMarkRx ? kFromRx : kFromAlloc;
  uint32_t head = (kind == kFromRx ? slot.rx : slot.alloc).prod->head.load(std::memory_order_relaxed);
  uint32_t last = ringMarks[kind];
  uint32_t full = last + ((mark - last) & kMarkValue);  // the mark holds 30 bits of the tail
  if (full - last > head - last) return fault(s);
  ringMarks[kind] = full;
  if (full - slot.seen[kind] <= head - slot.seen[kind]) slot.seen[kind] = full;
}

// Whether the endpoint may send or free d, on a ring whose last marks are ringMarks: d is known
// to be in its hands, or came through its alloc or RX ring at a position a mark says it had
// taken. A buffer still in either ring when the entry was published (a stale descriptor) is
// refused.
inline bool Manager::holds(uint32_t s, uint32_t d, const uint32_t* ringMarks) const {
  if (d >= g_.bufferCount) return false;
  uint32_t word = owners_[d], who = ownerOf(word);
  if (who == s) return true;
  if (who == (s | kCached)) return before(word, ringMarks[kFromAlloc]);
  return who == (s | kInRx) && before(word, ringMarks[kFromRx]);
}

// How far the endpoint has really taken its cache (for refills): its tail, which must lie
// within what was published and not behind what its marks already said.
bool Manager::allocTaken(uint32_t s, uint32_t* tail) {
  if (ringTaken(s, kFromAlloc, tail)) return true;
  fault(s);
  return false;
}

// The endpoint's tail on its alloc or RX ring, if it lies within what was published and not
// behind what its marks already said.
bool Manager::ringTaken(uint32_t s, uint32_t kind, uint32_t* tail) const {
  const SlotState& slot = slots_[s];
  const RingRef& ring = kind == kFromRx ? slot.rx : slot.alloc;
  uint32_t head = ring.prod->head.load(std::memory_order_relaxed);
  *tail = ring.cons->tail.load(std::memory_order_acquire);
  return *tail - slot.seen[kind] <= head - slot.seen[kind];
}

uint32_t Manager::drainFree(uint32_t s) {
  SlotState& slot = slots_[s];
  bool overrun = false;
  uint32_t n = ringDequeue(slot.free, scratch_, 1024, &overrun);
  if (overrun) fault(s);
  if (!n) return 0;
  uint32_t valid = 0, marks = 0;
  for (uint32_t i = 0; i < n; i++) {
    Entry e = scratch_[i];
    if (e & kEntryMark) {
      markTaken(s, slot.markFree, uint32_t(e));
      marks++;
    } else if (holds(s, entryIndex(e), slot.markFree)) {
      recycle(entryIndex(e));
      valid++;
    }
  }
  RouteCounters& route = region_->managerSide(s)->route;
  route.freed += valid;
  if (valid) {
    // What a capture endpoint holds is copies only (it has no cache), so each valid free is one.
    if (slot.capture) captureHeld_ -= std::min({valid, slot.buffers, captureHeld_});
    tookBack(s, valid);
  }
  // Not this endpoint's to free (sent, freed already, still in its cache): recycling it could
  // hand it out twice.
  route.invalid += n - marks - valid;
  h_->manager.invalid += n - marks - valid;
  slot.free.cons->dequeued -= marks;
  return n;
}

uint32_t Manager::refill(uint32_t s) {
  SlotState& slot = slots_[s];
  uint32_t taken;
  if (!allocTaken(s, &taken)) return 0;  // to be cut off: no refill
  uint32_t cached = slot.alloc.prod->head.load(std::memory_order_relaxed) - taken;
  if (cached >= g_.cacheSize / 2) return 0;
  // Never past its share: an endpoint that keeps what it allocates runs dry alone.
  uint32_t want = std::min({g_.cacheSize - cached, 1024u, roomInShare(s)});
  if (slot.atShare != (want == 0)) {
    slot.atShare = want == 0;
    region_->managerSide(s)->atShare.store(slot.atShare, std::memory_order_relaxed);
  }
  if (!want) return 0;
  uint32_t k = std::min(want, poolFree_);
  if (k < want) h_->manager.poolDry++;
  if (!k) return 0;
  uint32_t head = slot.alloc.prod->head.load(std::memory_order_relaxed);
  // Room is certain without asking the endpoint: cached + k <= cacheSize <= ringSize.
  for (uint32_t i = 0; i < k; i++) {
    uint32_t d = freeStack_[--poolFree_];
    owners_[d] = owned(s | kCached, head + i);
    slot.alloc.entries[(head + i) & slot.alloc.mask] = d;  // an alloc entry is the index alone
  }
  publishPool();  // before the ring: an observer may count a buffer in both, never in neither
  ringCommit(slot.alloc, k);
  gave(s, k);
  return k;
}

void Manager::gave(uint32_t s, uint32_t n) {
  SlotState& slot = slots_[s];
  slot.buffers += n;
  if (slot.service < kMaxServices) serviceBuffers_[slot.service] += n;
  region_->managerSide(s)->buffers = slot.buffers;
}

void Manager::tookBack(uint32_t s, uint32_t n) {
  SlotState& slot = slots_[s];
  n = std::min(n, slot.buffers);
  slot.buffers -= n;
  if (slot.service < kMaxServices) serviceBuffers_[slot.service] -= std::min(n, serviceBuffers_[slot.service]);
  region_->managerSide(s)->buffers = slot.buffers;
}

// Rendezvous (highest random weight) hashing over the live instances' numbers: a flow goes to
// the instance whose weight for it is highest, so an instance that leaves moves only its own
// flows (each to its next best), and one that comes back under its number takes exactly those
// back. Flows of the instances that stay never move, so their order holds across a death.
uint16_t Manager::pick(uint32_t service, uint32_t flowHash) const {
  const auto& live = instances_[service];
  if (live.empty()) return kNoSlot;
  if (live.size() == 1) return live[0];
  uint16_t best = live[0];
  uint32_t bestWeight = 0;
  for (uint16_t s : live) {
    // MurmurHash3's finaliser over the flow and the instance: every bit of both moves the weight.
    uint32_t w = flowHash ^ (uint32_t(slots_[s].instanceId) + 1) * 0x9e3779b9u;
    w ^= w >> 16;
    w *= 0x85ebca6bu;
    w ^= w >> 13;
    w *= 0xc2b2ae35u;
    w ^= w >> 16;
    if (w > bestWeight || (w == bestWeight && s < best)) {
      best = s;
      bestWeight = w;
    }
  }
  return best;
}

uint16_t Manager::instanceSlot(uint32_t service, uint32_t number) const {
  for (uint16_t s : instances_[service])
    if (slots_[s].instanceId == number) return s;
  return kNoSlot;
}

uint16_t Manager::slotFor(const Held& held, uint32_t i) const {
  if (held.instance[i] == kAnyHeldInstance) return pick(held.dest[i], entryWord(held.entry[i]));
  return instanceSlot(held.dest[i], held.instance[i] & kMaxInstanceNumber);
}

uint32_t Manager::routeTx(uint32_t s) {
  SlotState& slot = slots_[s];
  if (slot.capture) return discardCaptureTx(s);
  Held& held = slot.held;
  if (held.pending()) return deliverHeld(s);
  bool overrun = false;
  // One more than a burst: a sender's burst is usually led by a mark.
  uint32_t n = ringDequeue(slot.tx, scratch_, config_.burst + 1, &overrun);
  if (overrun) fault(s);
  if (!n) return 0;
  RouteCounters& route = region_->managerSide(s)->route;
  const uint16_t* routes = region_->service(slot.service)->routes;
  uint64_t bytes = 0;
  uint32_t kept = 0, marks = 0, taken = 0;
  for (uint32_t i = 0; i < n; i++) {
    Entry e = scratch_[i];
    if (e & kEntryMark) {
      markTaken(s, slot.markTx, uint32_t(e));
      marks++;
      continue;
    }
    uint32_t d = entryIndex(e);
    if (!holds(s, d, slot.markTx)) {
      // Not the sender's (a duplicate in this burst, a buffer it already freed or sent, or one
      // still in its cache): passing it on would give one buffer two owners.
      h_->manager.invalid++;
      route.invalid++;
      continue;
    }
    owners_[d] = owned(kOwnerManager);
    taken++;
    // What the sender said of the packet is in the entry: no load from the buffer.
    uint32_t length = entryLength(e), act = decodeAction(entryAction(e));
    if (length > capacity_) {  // a reader would run past the buffer into the next one
      if (__builtin_expect(tracing_, 0)) traceHop(d, slot.service, action(kActionLost, kMaxGates), capacity_);
      recycle(d);
      h_->manager.oversize++;
      route.invalid++;
      continue;
    }
    uint32_t kind = act >> 24, arg = act & 0xffffff;
    if (kind == kActionDrop) {
      if (__builtin_expect(tracing_, 0)) {
        // Decided by a group's member: the trace names it, as it names the one a gate is of.
        uint32_t as = arg >> kDropAsShift;
        uint16_t by = as && (slot.serves >> (as - 1) & 1) ? uint16_t(as - 1) : slot.service;
        traceHop(d, by, action(kActionDrop, arg & kDropConsumed), length);
      }
      recycle(d);
      if (arg & kDropConsumed) {
        route.consumed++;  // it ended where it was meant to: no loss
        h_->manager.consumed++;
      } else {
        route.dropped++;
        h_->manager.dropped++;
      }
      continue;
    }
    // Arguments are in range here (decodeAction): a gate below kMaxGates, a service below kMaxServices.
    uint32_t from = slot.service, gate = kMaxGates, to = kNoService, instance = kAnyHeldInstance;
    if (kind == kActionGate) {
      gate = arg;
      to = loadRoute(&routes[gate]);
    } else if (kind == kActionTo) {
      to = arg;
    } else if (kind == kActionGateOf && (slot.serves >> (arg >> 8) & 1)) {
      // A gate of another service this endpoint serves (a placement group): that one's routes.
      from = arg >> 8;
      gate = arg & 0xff;
      to = loadRoute(&region_->service(from)->routes[gate]);
    } else if (kind == kActionToInstance && (slot.serves >> (arg >> 6) & 1)) {
      // A handoff to another instance of a service this endpoint serves (a NAT's, to the one
      // holding a session): that instance or, if it is not running, no route, as an unwired gate.
      from = arg >> 6;
      instance = arg & (kHandoffTag | kMaxInstanceNumber);  // the tag goes with it to the receiver
      to = instanceSlot(from, instance & kMaxInstanceNumber) != kNoSlot ? from : kNoService;
    }
    if (__builtin_expect(to == kPausedRoute, 0)) to = kHeldForGate | gate;  // resolved again at delivery (gate < kMaxGates)
    else if (to >= kMaxServices || !(live_ >> to & 1)) {
      if (__builtin_expect(tracing_, 0)) traceHop(d, from, action(kActionLost, gate), length);
      recycle(d);
      route.noRoute++;
      h_->manager.noRoute++;
      continue;
    }
    held.entry[kept] = e;
    held.dest[kept] = uint16_t(to);  // a service; the instance is picked at delivery
    held.from[kept] = uint16_t(from);
    held.instance[kept] = uint8_t(instance);
    kept++;
    bytes += length;
  }
  // Copies for a capture tapping this sender's output, before delivery hands the packets on.
  // Apart from the loop above, which stays as it was: with no capture attached, routing pays
  // this one load of manager memory and one predictable branch per burst.
  if (__builtin_expect(slot.outTapped, 0)) {
    for (uint32_t i = 0; i < kept; i++) {
      Entry e = held.entry[i];
      tapOut(entryIndex(e), held.from[i], gateOf(decodeAction(entryAction(e))), entryLength(e));
    }
  }
  // A trace follows packets hop by hop (and marks those entering here); one branch per burst
  // when none is attached.
  if (__builtin_expect(tracing_, 0)) {
    for (uint32_t i = 0; i < kept; i++) {
      Entry e = held.entry[i];
      traceHop(entryIndex(e), held.from[i], asSeen(decodeAction(entryAction(e))), entryLength(e));
    }
  }
  // Sent on: drops, no-route and refusals are counted apart, so an NF's tx is what it passed.
  route.txPackets += kept;
  route.txBytes += bytes;
  if (taken) tookBack(s, taken);
  slot.tx.cons->dequeued -= marks;
  held.count = kept;
  held.next = 0;
  deliverHeld(s);
  h_->manager.held += held.count - held.next;
  return n;
}

// Delivers held descriptors in order, each run of one destination as one burst. Stops at the
// first destination that is full, keeping the rest: backpressure reaches the sender's TX ring
// instead of losing packets, and per-flow order holds. Returns how many it moved.
uint32_t Manager::deliverHeld(uint32_t s) {
  Held& held = slots_[s].held;
  uint32_t start = held.next;
  while (held.pending()) {
    uint32_t first = held.next;
    if (__builtin_expect(held.dest[first] & kHeldForGate, 0)) {
      // Its gate's route was paused when it was sent: wait while it is, then go where it leads.
      uint16_t to = loadRoute(&region_->service(held.from[first])->routes[held.dest[first] & kHeldGateMask]);
      if (to == kPausedRoute) break;
      // Unwired meanwhile: the same end as a packet sent to an unwired gate (below, as no route).
      if (to >= kMaxServices) to = kHeldNowhere;
      // Every later packet for the same gate of the same service goes the same way (a group
      // slot may have the same gate of two services paused).
      uint16_t paused = held.dest[first], as = held.from[first];
      for (uint32_t i = first + 1; i < held.count; i++)
        if (held.dest[i] == paused && held.from[i] == as) held.dest[i] = to;
      held.dest[first] = to;
    }
    uint16_t dest = held.dest[first] == kHeldNowhere ? kNoSlot : slotFor(held, first);
    if (dest == kNoSlot) {  // every instance died while this waited (or the one it was handed to)
      uint32_t d = entryIndex(held.entry[first]);
      if (__builtin_expect(tracing_, 0)) traceHop(d, held.from[first], action(kActionLost, kMaxGates), entryLength(held.entry[first]));
      recycle(d);
      region_->managerSide(s)->route.noRoute++;
      h_->manager.noRoute++;
      held.next++;
      continue;
    }
    // The run: the packets after it for the same service and instance (any, if it has one).
    uint32_t end = first + 1;
    bool single = held.dest[first] < kMaxServices && instances_[held.dest[first]].size() == 1 && held.instance[first] == kAnyHeldInstance;
    while (end < held.count && held.dest[end] == held.dest[first] &&
           (single ? held.instance[end] == kAnyHeldInstance : slotFor(held, end) == dest))
      end++;
    const RingRef& rx = slots_[dest].rx;
    uint32_t rxHead = rx.prod->head.load(std::memory_order_relaxed);
    bool overrun = false;
    uint32_t k = std::min(end - first, ringRoom(rx, end - first, &overrun));
    if (overrun) fault(dest);  // held here until it is cut off and another instance is picked
    // Full: ask its endpoint to wake us as it takes from the ring, then look once more, since an
    // endpoint that took between the look above and the flag read the flag before it was set
    // (the fence pairs with its tail store before its read of the flag). Room again: stop asking.
    std::atomic<uint32_t>& roomWanted = region_->managerSide(dest)->roomWanted;
    if (k < end - first) {
      roomWanted.store(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      k = std::min(end - first, ringRoom(rx, end - first, &overrun));
      if (overrun) fault(dest);
    } else if (roomWanted.load(std::memory_order_relaxed)) {
      roomWanted.store(0, std::memory_order_relaxed);
    }
    // Never past its share: one that keeps what it receives is held back as a full ring holds
    // it back (its senders see backpressure, nothing is lost), and the pool is not emptied
    // into it. What it gives back wakes us (its free and TX rings), not roomWanted. Not for
    // what one instance of an endpoint sends another (a NAT's handoffs): that was taken back
    // from the same share as it was sent, and the room it left may have gone to the same
    // endpoint's refills since; held to the share, two instances handing each other packets at
    // it would wait on each other for ever. It passes the share by at most what is held here.
    if (slots_[s].service != slots_[dest].service) k = std::min(k, roomInShare(dest));
    if (!k) break;
    uint64_t bytes = 0;
    // A receiver that just transmits leaves by gate 0 of the service it was sent to; a group's
    // process learns from it which of its NFs the packet is for. The receiving endpoint writes
    // this and the sender into the buffer's metadata as it takes it.
    uint32_t delivered = packAction(slots_[dest].group ? action(kActionGateOf, uint32_t(held.dest[first]) << 8) : action(kActionGate, 0));
    for (uint32_t i = first; i < first + k; i++) {
      Entry e = held.entry[i];
      uint32_t d = entryIndex(e), length = entryLength(e), at = rxHead + (i - first);
      bytes += length;
      owners_[d] = owned(dest | kInRx, at);
      // A handed-over packet arrives with the action it was handed with (its tag, its member).
      uint32_t as = held.instance[i] == kAnyHeldInstance ? delivered
                                                          : packAction(action(kActionToInstance, uint32_t(held.dest[i]) << 6 | held.instance[i]));
      rx.entries[at & rx.mask] = makeEntry(d, length, held.from[i], as);  // published by ringCommit below
    }
    // A capture taps what this service receives: copies while the packets are still the
    // manager's (once published, the receiver may change them). One branch per run.
    if (__builtin_expect(rxTaps_[held.dest[first]] != 0, 0))
      for (uint32_t i = first; i < first + k; i++)
        tapRx(entryIndex(held.entry[i]), held.dest[first], held.from[i], entryLength(held.entry[i]));
    ringCommit(rx, k);
    gave(dest, k);
    RouteCounters& to = region_->managerSide(dest)->route;
    to.rxPackets += k;
    to.rxBytes += bytes;
    h_->manager.routed += k;
    wakeEndpoint(dest);
    held.next += k;
    if (held.next < end) break;
  }
  return held.next - start;
}

// A capture endpoint sends nothing into the chain: what it transmits anyway goes back to the
// pool, counted as no route, if it was its own (checked as any sender's).
uint32_t Manager::discardCaptureTx(uint32_t s) {
  SlotState& slot = slots_[s];
  bool overrun = false;
  uint32_t n = ringDequeue(slot.tx, scratch_, config_.burst + 1, &overrun);
  if (overrun) fault(s);
  if (!n) return 0;
  RouteCounters& route = region_->managerSide(s)->route;
  uint32_t marks = 0;
  for (uint32_t i = 0; i < n; i++) {
    Entry e = scratch_[i];
    if (e & kEntryMark) {
      markTaken(s, slot.markTx, uint32_t(e));
      marks++;
    } else if (holds(s, entryIndex(e), slot.markTx)) {
      recycle(entryIndex(e));
      if (slot.buffers) {  // one of its copies
        tookBack(s, 1);
        if (captureHeld_) captureHeld_--;
      }
      route.noRoute++;
      h_->manager.noRoute++;
    } else {
      route.invalid++;
      h_->manager.invalid++;
    }
  }
  slot.tx.cons->dequeued -= marks;
  return n;
}

// Rebuilds the taps in force from every capture endpoint served (not leaving), and the
// per-service summary routing reads. Called with the slot lists, so whenever the doorbell's
// claims counter moves: a capture endpoint rings it after changing its taps. Its side is its
// own to write, so every word is read once and checked: a count beyond kMaxTaps is clamped, a
// tap naming no declared service, an unknown kind or a gate out of range is skipped. A tap
// list the endpoint is rewriting meanwhile is read partly old, partly new, each tap whole and
// checked; its next doorbell ring brings the rest.
void Manager::readTaps() {
  taps_.clear();
  captures_.clear();
  memset(outTaps_, 0, sizeof outTaps_);
  memset(rxTaps_, 0, sizeof rxTaps_);
  tracing_ = false;
  // Captures are served first come: one arriving while kMaxCaptures are never displaces them.
  uint32_t served = 0;
  for (uint32_t s : active_) served += slots_[s].capture && slots_[s].served && !slots_[s].detaching;
  for (uint32_t s : active_) {
    SlotState& slot = slots_[s];
    if (!slot.capture) continue;
    ManagerSide* side = region_->managerSide(s);
    if (slot.detaching || (!slot.served && served >= kMaxCaptures)) {  // leaving, or one too many: no copies
      side->tapsActive = 0;
      slot.tracer = false;
      slot.served = false;
      continue;
    }
    if (!slot.served) {
      slot.served = true;
      served++;
    }
    captures_.push_back(s);
    CaptureTaps& wanted = region_->endpointSide(s)->taps;
    // Acquire: pairs with the endpoint's release of seq, so the taps it wrote before are seen.
    uint32_t seq = wanted.seq.load(std::memory_order_acquire);
    uint32_t count = std::min(wanted.count.load(std::memory_order_relaxed), kMaxTaps);
    // A new list (not one read again because another endpoint came or went) restarts a trace's count.
    bool newList = seq != side->tapsSeen.load(std::memory_order_relaxed);
    uint32_t valid = 0;
    slot.tracer = false;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t word = wanted.taps[i].load(std::memory_order_relaxed);
      uint32_t service = word & 0xffff, gate = word >> 16 & 0xff, kind = word >> 24;
      if (kind == kTapTrace) {  // no service: the low bits are how many packets to follow
        if (!slot.tracer && newList) {
          slot.traceLeft = service;
          slot.traceBase = slot.traceCount;
        }
        slot.tracer = true;
        slot.traceTap = uint16_t(i);
        tracing_ = true;
        valid++;
        continue;
      }
      if (service >= kMaxServices || !region_->service(service)->declared.load(std::memory_order_acquire)) continue;
      if (kind == kTapRx) rxTaps_[service] = 1;
      else if (kind == kTapGate && gate < kMaxGates) outTaps_[service] |= uint16_t(1u << gate);
      else if (kind == kTapTx) outTaps_[service] |= uint16_t(kAllGates);
      else continue;
      taps_.push_back({uint16_t(s), uint16_t(i), uint16_t(service), uint8_t(kind), uint8_t(gate)});
      valid++;
    }
    side->tapsActive = valid;
    // Release: a capture endpoint that sees its seq here may trust that its taps are in force.
    side->tapsSeen.store(seq, std::memory_order_release);
  }
  // By service, then capture slot: routing then looks only at the taps on the service at hand.
  std::sort(taps_.begin(), taps_.end(), [](const TapEntry& a, const TapEntry& b) {
    return a.service != b.service ? a.service < b.service : a.slot < b.slot;
  });
  memset(tapCount_, 0, sizeof tapCount_);
  for (uint32_t i = 0; i < taps_.size(); i++) {
    if (!tapCount_[taps_[i].service]) tapStart_[taps_[i].service] = uint16_t(i);
    tapCount_[taps_[i].service]++;
  }
  uint32_t tracers = 0;
  for (uint32_t s : captures_) tracers += slots_[s].tracer;
  h_->manager.taps = taps_.size() + tracers;
  // Whether anything taps what a slot sends, as any of the services it serves.
  for (uint32_t s : active_) {
    slots_[s].outTapped = false;
    for (uint32_t i = 0; i < kMaxServices; i++) slots_[s].outTapped |= (slots_[s].serves >> i & 1) && outTaps_[i] != 0;
  }
}

// d, taken from service's TX ring, goes on through gate (kMaxGates: sent to a named
// endpoint). Each capture endpoint with a tap on that gate or on all service sends gets one
// copy (taps_ holds one endpoint's taps together).
void Manager::tapOut(uint32_t d, uint16_t service, uint32_t gate, uint32_t length) {
  uint32_t mask = outTaps_[service];
  if (!(mask & kAllGates) && !(gate < kMaxGates && (mask >> gate & 1u))) return;
  uint32_t last = kMaxSlots;
  for (uint32_t i = tapStart_[service], end = i + tapCount_[service]; i < end; i++) {
    const TapEntry& t = taps_[i];
    if (t.slot == last) continue;
    if (t.kind == kTapTx || (t.kind == kTapGate && t.gate == gate)) {
      copyTo(t.slot, t.index, d, service, length, action(kActionGate, 0));
      last = t.slot;
    }
  }
}

// d is being delivered to an instance of service, sent by `from`.
void Manager::tapRx(uint32_t d, uint16_t service, uint16_t from, uint32_t length) {
  uint32_t last = kMaxSlots;
  for (uint32_t i = tapStart_[service], end = i + tapCount_[service]; i < end; i++) {
    const TapEntry& t = taps_[i];
    if (t.kind != kTapRx || t.slot == last) continue;
    copyTo(t.slot, t.index, d, from, length, action(kActionGate, 0));
    last = t.slot;
  }
}

// Copies d (in flight, the manager's) into a buffer of the pool for capture endpoint cs and
// stages it on cs's RX ring. The chain's packet is never held or dropped for it: a copy that
// cannot be made is counted lost instead, when cs's ring is full (a slow reader), when cs
// already holds ringSize copies (one that does not free them), or when the pool is down to
// the chain's reserve. length: what the sender's entry said (at most capacity_); act: what the
// copy's RX entry says was done with the packet.
uint32_t Manager::copyTo(uint32_t cs, uint32_t tapIndex, uint32_t d, uint16_t from, uint32_t length, uint32_t act) {
  SlotState& cap = slots_[cs];
  if (!cap.active || cap.detaching || !cap.capture) return kNoBuffer;  // taps_ holds served captures only
  bool overrun = false;
  uint32_t room = ringRoom(cap.rx, cap.staged + 1, &overrun);
  if (overrun) fault(cs);  // a tail no correct consumer writes: room is 0, cut off after the poll
  if (room <= cap.staged || cap.buffers >= g_.ringSize || captureHeld_ >= captureBudget_ ||
      copiesThisPoll_ >= kCopiesPerPoll || poolFree_ <= captureReserve_) {
    region_->managerSide(cs)->route.captureLost++;
    h_->manager.captureLost++;
    return kNoBuffer;
  }
  const Meta* original = region_->meta(d);
  uint32_t c = freeStack_[--poolFree_];  // poolFree_ > captureReserve_ >= 0
  owners_[c] = owned(cs | kInRx, cap.rx.prod->head.load(std::memory_order_relaxed) + cap.staged);
  auto bytes = [this](uint32_t b) { return reinterpret_cast<uint8_t*>(region_->meta(b)) + g_.dataOffset; };
  memcpy(bytes(c), bytes(d), length);
  Meta* copy = region_->meta(c);
  copy->length = length;
  copy->inPort = __atomic_load_n(&original->inPort, __ATOMIC_RELAXED);
  copy->flowHash = __atomic_load_n(&original->flowHash, __ATOMIC_RELAXED);
  if (!captureClock_) captureClock_ = realtimeNs();  // once per poll, and only when copying
  copy->timestamp = captureClock_;
  copy->tap = tapIndex;
  copy->trace = 0;
  // The endpoint writes prev and action from the entry as it takes the copy.
  ringStage(cap.rx, cap.staged, makeEntry(c, length, from, packAction(act)));
  cap.staged++;
  cap.stagedBytes += length;
  gave(cs, 1);  // what it has is copies
  captureHeld_++;
  copiesThisPoll_++;
  return c;
}

// A packet leaving `service` with action `act` (a gate, a named endpoint, a drop, or lost for
// want of a route). If it is being traced, its tracer gets a copy of it as it is now, with the
// action, the sender and why the sender's NF did it (Meta::user, its runner's note). If it is
// not and it enters the chain here (sent by the endpoint that brought it in), the first tracer
// still wanting packets marks it. Called only while some capture endpoint traces.
void Manager::traceHop(uint32_t d, uint16_t service, uint32_t act, uint32_t length) {
  Meta* m = region_->meta(d);
  uint32_t id = traceOf_[d];
  uint32_t cs = (id >> 24) - 1;
  // A mark of this trace: its tracer is still there and gave the number in this trace.
  bool live = id && cs < g_.slots && slots_[cs].tracer &&
              ((id - slots_[cs].traceBase) & 0xffffff) - 1 < ((slots_[cs].traceCount - slots_[cs].traceBase) & 0xffffff);
  if (!live) {
    id = 0;
    // Not followed yet: if it enters the chain here (sent by the endpoint that brought it in),
    // the first tracer still wanting packets takes it.
    if (__atomic_load_n(&m->inPort, __ATOMIC_RELAXED) == service) {
      for (uint32_t t : captures_) {
        SlotState& tracer = slots_[t];
        if (!tracer.tracer || !tracer.traceLeft) continue;
        tracer.traceLeft--;
        id = (t + 1) << 24 | (++tracer.traceCount & 0xffffff);
        cs = t;
        __atomic_store_n(&m->user[0], 0, __ATOMIC_RELAXED);  // no note from the buffer's last life
        break;
      }
    }
    traceOf_[d] = id;
  }
  // What runners read: the true mark (a forged one is wiped while the packet is the manager's).
  __atomic_store_n(&m->trace, id, __ATOMIC_RELAXED);
  if (!id) return;
  uint32_t c = copyTo(cs, slots_[cs].traceTap, d, service, std::min(length, capacity_), act);
  if (c == kNoBuffer) return;
  Meta* copy = region_->meta(c);
  copy->trace = id;
  copy->timestamp = nowNs();  // hop by hop, on a clock that never steps: only differences matter
  for (uint32_t i = 0; i < 8; i++) copy->user[i] = __atomic_load_n(&m->user[i], __ATOMIC_RELAXED);
  __atomic_store_n(&m->user[0], 0, __ATOMIC_RELAXED);  // the next hop's note is its own
}

// Publishes the copies staged this poll: one release store of head and at most one wake per
// capture endpoint, however many copies.
void Manager::flushCaptures() {
  for (uint32_t cs : captures_) {
    SlotState& cap = slots_[cs];
    if (!cap.staged) continue;
    ringCommit(cap.rx, cap.staged);
    RouteCounters& route = region_->managerSide(cs)->route;
    route.captured += cap.staged;
    route.rxPackets += cap.staged;
    route.rxBytes += cap.stagedBytes;
    h_->manager.captured += cap.staged;
    cap.staged = 0;
    cap.stagedBytes = 0;
    wakeEndpoint(cs);
  }
}

// Wakes the endpoint if it asked to sleep since the last wake: one syscall per sleep, however
// many bursts arrive. Pairs with Endpoint::waitReadable (publish, fence, read the requests).
void Manager::wakeEndpoint(uint32_t s) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint32_t requests = region_->endpointSide(s)->sleepRequests.load(std::memory_order_relaxed);
  if (requests == slots_[s].wakeRequests) return;
  slots_[s].wakeRequests = requests;
  ManagerSide* side = region_->managerSide(s);
  side->wakeSeq.fetch_add(1, std::memory_order_release);
  futexWake(&side->wakeSeq);
  side->route.wakes++;
}

// Notes the slots leaving and takes on newly claimed ones; then rebuilds the lists it routes by.
void Manager::refreshSlots() {
  seenClaims_ = doorbell_->claims.load(std::memory_order_acquire);
  // The leaving first: one that says so holds its instance number no more, whatever slot a
  // claim for that number is in (and has let go of its lease, which is no death).
  for (uint32_t s = 0; s < g_.slots; s++) {
    // A leaving endpoint gets nothing new, but what it transmitted before leaving is still
    // routed; pollOnce reclaims the slot once its TX ring and held descriptors are empty.
    if (slots_[s].active && !slots_[s].detaching &&
        region_->endpointSide(s)->claim.load(std::memory_order_acquire) == kClaimDetaching) {
      slots_[s].detaching = true;
      slots_[s].detachingSince = nowNs();
      region_->managerSide(s)->state.store(kSlotDetaching, std::memory_order_release);
    }
  }
  for (uint32_t s = 0; s < g_.slots; s++) {
    if (slots_[s].active || slots_[s].retired) continue;
    std::atomic<uint32_t>& state = region_->managerSide(s)->state;
    uint32_t now = state.load(std::memory_order_relaxed);
    if (now == kSlotWaiting && !leaseHeld(leaseQuery_, kSlotLeaseBase + s)) {
      freeWaiting(s);  // its claimer gave up (INSTANCE_TAKEN) or died
      continue;
    }
    if (region_->endpointSide(s)->claim.load(std::memory_order_acquire) != kClaimActive || (now != kSlotFree && now != kSlotWaiting))
      continue;
    // Read once and checked: the endpoint side is the endpoint's to write.
    EndpointSide* claimer = region_->endpointSide(s);
    Claim claim{__atomic_load_n(&claimer->service, __ATOMIC_RELAXED), __atomic_load_n(&claimer->instance, __ATOMIC_RELAXED),
                __atomic_load_n(&claimer->alsoServes, __ATOMIC_RELAXED)};
    if (claim.service != kCaptureService &&
        !(claim.service < kMaxServices && region_->service(claim.service)->declared.load(std::memory_order_acquire)))
      continue;
    // A number a live instance of its services has already is not given twice (the two would
    // split that number's flows and handoffs): a restart that came before the death of the
    // one it replaces was found finds it now; otherwise the claim waits for that one to go,
    // and says so (its claimer gives up after a while, with INSTANCE_TAKEN).
    uint16_t holder = claim.service == kCaptureService ? kNoSlot : numberHolder(s, servesOf(claim), claim.instance);
    if (holder != kNoSlot) {
      if (leaseHeld(leaseQuery_, kSlotLeaseBase + holder)) {
        if (now != kSlotWaiting) state.store(kSlotWaiting, std::memory_order_release);
        continue;
      }
      reclaim(holder, Leaving::Died);
    }
    takeOn(s, claim);
  }
  active_.clear();
  for (auto& live : instances_) live.clear();
  for (uint32_t s = 0; s < g_.slots; s++) {
    if (!slots_[s].active) continue;
    active_.push_back(s);
    if (slots_[s].detaching || slots_[s].capture) continue;
    for (uint32_t i = 0; i < kMaxServices; i++)
      if (slots_[s].serves >> i & 1) instances_[i].push_back(uint16_t(s));
  }
  live_ = 0;
  for (uint32_t i = 0; i < kMaxServices; i++) {
    region_->service(i)->instances = uint32_t(instances_[i].size());
    if (!instances_[i].empty()) live_ |= 1ull << i;
  }
  readTaps();
}

// What a claim serves: its own service and the declared ones of `also` (a placement group's).
uint64_t Manager::servesOf(const Claim& claim) const {
  if (claim.service == kCaptureService) return 0;
  uint64_t serves = 1ull << claim.service;
  for (uint32_t i = 0; i < kMaxServices; i++)
    if ((claim.also >> i & 1) && region_->service(i)->declared.load(std::memory_order_acquire)) serves |= 1ull << i;
  return serves;
}

// The slot of a live instance of one of `serves` numbered `number`, but s; kNoSlot if none
// (or the number is kUnnumbered: the manager numbers those).
uint16_t Manager::numberHolder(uint32_t s, uint64_t serves, uint16_t number) const {
  if (number == kUnnumbered) return kNoSlot;
  for (uint32_t j = 0; j < g_.slots; j++)
    if (j != s && liveAs(j, serves, number)) return uint16_t(j);
  return kNoSlot;
}

void Manager::takeOn(uint32_t s, const Claim& claim) {
  uint16_t service = claim.service;
  SlotState& slot = slots_[s];
  ManagerSide* side = region_->managerSide(s);
  // The last occupant's counts go to its service's totals as its slot starts over (until then
  // they are read from the slot: each count is in exactly one place). countsMoving is odd
  // meanwhile, so an observer that read across the move reads again rather than count twice.
  h_->countsMoving.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  if (!slot.capture && slot.service < kMaxServices) addCounters(region_->service(slot.service)->left, side->route);
  memset(&side->route, 0, sizeof side->route);
  side->service = service;
  h_->countsMoving.fetch_add(1, std::memory_order_release);
  slot.active = true;
  slot.detaching = false;
  slot.service = service;
  slot.capture = service == kCaptureService;
  // Kept to declared services: what it may send as, and what is delivered to it.
  slot.serves = servesOf(claim);
  slot.group = __builtin_popcountll(slot.serves) > 1;
  // Its own to ask for (only its share depends on it), or numbered here.
  uint16_t asked = claim.instance;
  slot.numbered = asked != kUnnumbered;
  slot.instanceId = slot.numbered ? asked : freeInstanceNumber(s);
  if (slot.numbered) {  // back under its number: no longer held for the services it serves
    for (HeldNumber& h : heldNumbers_)
      if (h.number == asked) h.serves &= ~slot.serves;
    heldNumbers_.erase(std::remove_if(heldNumbers_.begin(), heldNumbers_.end(), [](const HeldNumber& h) { return !h.serves; }),
                       heldNumbers_.end());
  }
  side->instance = slot.instanceId;
  slot.staged = 0;
  slot.stagedBytes = 0;
  slot.buffers = 0;
  uint32_t heads[2] = {slot.alloc.prod->head.load(std::memory_order_relaxed), slot.rx.prod->head.load(std::memory_order_relaxed)};
  for (uint32_t kind : {kFromAlloc, kFromRx}) slot.seen[kind] = slot.markTx[kind] = slot.markFree[kind] = heads[kind];
  // One behind: it may have gone to sleep before it was taken on, and the first delivery must
  // wake it (at worst one needless wake).
  slot.wakeRequests = region_->endpointSide(s)->sleepRequests.load(std::memory_order_relaxed) - 1;
  side->tapsSeen.store(0, std::memory_order_relaxed);  // published by the state store below
  side->roomWanted.store(0, std::memory_order_relaxed);
  side->tapsActive = 0;
  side->state.store(kSlotActive, std::memory_order_release);
}

// Whether slot j is a live instance of one of the services `serves`, numbered `number`.
bool Manager::liveAs(uint32_t j, uint64_t serves, uint16_t number) const {
  const SlotState& other = slots_[j];
  return other.active && !other.detaching && !other.capture && (other.serves & serves) && other.instanceId == number;
}

// The lowest number no other live instance of the slot's services has (its serves set, so taken
// on first), nor one still to be taken on asks for: numbered here rather than by the endpoint,
// which cannot see the claims racing its own.
uint16_t Manager::freeInstanceNumber(uint32_t s) const {
  for (uint16_t number = 0;; number++) {
    bool taken = false;
    for (uint32_t j = 0; j < g_.slots && !taken; j++) {  // not active_: those taken on in this refresh count too
      if (j == s) continue;
      if (slots_[j].active) {
        taken = liveAs(j, slots_[s].serves, number);
      } else if (!slots_[j].retired && region_->endpointSide(j)->claim.load(std::memory_order_acquire) == kClaimActive) {
        // A claim this refresh has yet to come to: its word only (each field read once), which
        // at worst costs a number. Its services as takeOn will count them: its own and `also`.
        EndpointSide* claimer = region_->endpointSide(j);
        uint16_t service = __atomic_load_n(&claimer->service, __ATOMIC_RELAXED);
        uint64_t serves = __atomic_load_n(&claimer->alsoServes, __ATOMIC_RELAXED) | (service < kMaxServices ? 1ull << service : 0);
        taken = (serves & slots_[s].serves) && __atomic_load_n(&claimer->instance, __ATOMIC_RELAXED) == number;
      }
    }
    for (const HeldNumber& h : heldNumbers_) taken = taken || (h.number == number && (h.serves & slots_[s].serves));
    if (!taken) return number;
  }
}

// A numbered instance that died or was cut off, unless it was leaving: its number waits for its
// restart. Not if a live instance has it already. At most one per slot, the oldest let go
// first: numbers come from endpoint memory, and one that attaches under ever new numbers and
// dies must not grow this without end.
void Manager::holdNumber(uint32_t s) {
  const SlotState& slot = slots_[s];
  if (!slot.numbered || slot.capture || slot.detaching) return;
  for (uint32_t j : active_)
    if (j != s && liveAs(j, slot.serves, slot.instanceId)) return;
  for (const HeldNumber& h : heldNumbers_)
    if (h.number == slot.instanceId && h.serves == slot.serves) return;
  if (heldNumbers_.size() >= g_.slots) heldNumbers_.erase(heldNumbers_.begin());
  heldNumbers_.push_back({slot.serves, slot.instanceId});
}

// An endpoint lives while it holds its slot's lease: the kernel drops the lock when the
// process dies, in whatever pid namespace it runs, and no write to shared memory can fake it.
void Manager::checkLiveness() {
  lastLiveness_ = nowNs();
  checkLeases();
  sweep();
}

// Reclaims the slots whose process has gone (its lease let go) and frees retired ones.
void Manager::checkLeases() {
  // Claims are also looked for here, in case a doorbell ring was lost.
  bool changed = doorbell_->claims.load(std::memory_order_acquire) != seenClaims_;
  for (uint32_t s = 0; s < g_.slots; s++) {
    if (!slots_[s].active) {
      if (slots_[s].retired && !leaseHeld(leaseQuery_, kSlotLeaseBase + s)) {
        // Its process let go: clean what it may have written since it was retired, then the
        // slot is free for the next claimer.
        slots_[s].retired = false;
        resetSides(s);
        region_->managerSide(s)->instance = kUnnumbered;  // no occupant's number outlives it
        region_->managerSide(s)->state.store(kSlotFree, std::memory_order_release);
      }
      // A claim not taken on yet, or one waiting for its number (its claimer may have given up
      // or died meanwhile): looked at again.
      uint32_t state = region_->managerSide(s)->state.load(std::memory_order_relaxed);
      changed = changed || (!slots_[s].retired && (state == kSlotWaiting ||
                            (state == kSlotFree && region_->endpointSide(s)->claim.load(std::memory_order_relaxed) == kClaimActive)));
      continue;
    }
    if (slots_[s].detaching || leaseHeld(leaseQuery_, kSlotLeaseBase + s)) continue;
    if (region_->endpointSide(s)->claim.load(std::memory_order_acquire) == kClaimDetaching) {
      changed = true;  // it said it was leaving, then left: refreshSlots drains it
      continue;
    }
    reclaim(s, Leaving::Died);
    changed = true;
  }
  if (changed) refreshSlots();
}

// Buffers an endpoint has certainly taken from its alloc or RX ring become plainly its own,
// so their positions never have to be judged again (a buffer held for minutes would otherwise
// outlive the 24-bit position). Certainly taken: before its tail, read first, with no entry of
// its TX or free ring still unread that could have been published before the take (a ring
// that is empty now, or whose last mark is past the position).
void Manager::sweep() {
  uint32_t bound[kMaxSlots][2];
  bool sweepable[kMaxSlots] = {};
  for (uint32_t s : active_) {
    SlotState& slot = slots_[s];
    uint32_t taken[2];
    // A capture has no cache: its alloc ring is never used, and a tail written there is no reason
    // to stop judging the copies it was given.
    if (slot.capture) taken[kFromAlloc] = slot.alloc.prod->head.load(std::memory_order_relaxed);
    if (slot.detaching || !(slot.capture || ringTaken(s, kFromAlloc, &taken[0])) || !ringTaken(s, kFromRx, &taken[1])) continue;
    bool txEmpty = slot.tx.prod->head.load(std::memory_order_acquire) == slot.tx.cons->tail.load(std::memory_order_relaxed);
    bool freeEmpty = slot.free.prod->head.load(std::memory_order_acquire) == slot.free.cons->tail.load(std::memory_order_relaxed);
    for (uint32_t kind : {kFromAlloc, kFromRx}) {
      uint32_t a = txEmpty ? taken[kind] : slot.markTx[kind], b = freeEmpty ? taken[kind] : slot.markFree[kind];
      bound[s][kind] = before(a, b) ? a : b;  // the earlier of the two
    }
    sweepable[s] = true;
  }
  for (uint32_t d = 0; d < g_.bufferCount; d++) {
    uint32_t word = owners_[d], who = ownerOf(word);
    if (who >= (kCached | kInRx) || !(who & (kCached | kInRx))) continue;
    uint32_t s = who & kSlotBits;
    if (sweepable[s] && before(word, bound[s][who & kInRx ? kFromRx : kFromAlloc])) owners_[d] = owned(s);
  }
}

// Takes back every buffer the endpoint had (in its rings, its cache, its hands, or held here
// for it): exactly those owned by this slot, since only the manager changes owners.
void Manager::reclaim(uint32_t s, Leaving how) {
  SlotState& slot = slots_[s];
  uint64_t count = 0;
  // What an endpoint that died or left had given back on its free ring were no packets: taken
  // back as freed first (a pass takes at most 1,024), so that what is counted lost below is
  // packets only. Its process is gone or its side read-only, so the ring holds no more than it
  // wrote; one that is cut off may write on, so is not read.
  if (how != Leaving::Faulted)
    for (uint32_t passes = 0; passes <= g_.ringSize / 1024 && drainFree(s); passes++) {}
  // A fault found before it left was its own: the slot's next occupant must not be cut off for it.
  faulted_.erase(std::remove(faulted_.begin(), faulted_.end(), s), faulted_.end());
  // Lost with it: what it had sent that waited here for a full receiver, what was in its RX
  // ring, and what was in its hands (received, or allocated and not sent: taken from its cache,
  // whether or not a sweep has marked it so yet). Not its cache's free buffers, nor a capture's
  // copies, which are no packets of the chain.
  uint32_t allocTail = 0;
  bool tailKnown = ringTaken(s, kFromAlloc, &allocTail);
  uint64_t lost = 0;
  Held& held = slot.held;
  for (uint32_t i = held.next; i < held.count; i++, count++, lost++) recycle(entryIndex(held.entry[i]));  // owned by the manager
  held.count = held.next = 0;
  for (uint32_t d = 0; d < g_.bufferCount; d++) {
    uint32_t word = owners_[d], who = ownerOf(word);
    if (who != s && who != (s | kCached) && who != (s | kInRx)) continue;
    recycle(d);
    count++;
    if (who != (s | kCached) || (tailKnown && before(word, allocTail))) lost++;
  }
  if (slot.capture) lost = 0;
  publishPool();
  resetSides(s);
  ManagerSide* side = region_->managerSide(s);
  // Every one taken back above; a capture's were copies, within the captures' budget.
  if (slot.capture) captureHeld_ -= std::min(slot.buffers, captureHeld_);
  tookBack(s, slot.buffers);
  slot.atShare = false;
  side->atShare.store(0, std::memory_order_relaxed);
  side->route.reclaimed = count;
  side->route.lost = lost;
  h_->manager.reclaimed += count;
  h_->manager.lost += lost;
  if (how == Leaving::Died) {
    h_->manager.deaths++;
    if (!slot.capture) region_->service(slot.service)->deaths++;
  }
  if (how != Leaving::Detached) holdNumber(s);  // it may come back under its number
  // Its copies were among the buffers owned by the slot, taken back above.
  slot.staged = 0;
  slot.stagedBytes = 0;
  slot.capture = false;
  slot.tracer = false;
  slot.served = false;
  slot.traceLeft = 0;  // traceCount stays: the next occupant's marks must not pass for this one's
  side->tapsActive = 0;
  if (how == Leaving::Faulted) h_->manager.faults++;
  slot.active = slot.detaching = false;
  slot.retired = how != Leaving::Died && leaseHeld(leaseQuery_, kSlotLeaseBase + s);
  for (uint32_t kind : {kFromAlloc, kFromRx}) slot.seen[kind] = slot.markTx[kind] = slot.markFree[kind] = 0;
  // A faulted endpoint still running learns from the state why it is served no more.
  // Retired (its process still holds the lease): not free until it lets go, and a faulted one
  // learns from the state why it is served no more.
  uint32_t state = !slot.retired ? kSlotFree : how == Leaving::Faulted ? kSlotFaulted : kSlotDetaching;
  if (!slot.retired) side->instance = kUnnumbered;  // a retired one keeps its number until it lets go
  side->state.store(state, std::memory_order_release);
}

// A claim that waited for its number and was given up (or whose claimer died): free for the
// next claimer, as a slot never taken on.
void Manager::freeWaiting(uint32_t s) {
  resetSides(s);
  region_->managerSide(s)->instance = kUnnumbered;
  region_->managerSide(s)->state.store(kSlotFree, std::memory_order_release);
}

// Empties the slot's rings and claim, so the next claimer starts clean. Only once its last
// occupant has stopped writing (gone, or retired until it lets go of the lease). An observer
// reading a ring across its reset (head stored 0, its tail not yet) would see it full:
// countsMoving is odd meanwhile, as for a move of counts, so it reads again.
void Manager::resetSides(uint32_t s) {
  SlotState& slot = slots_[s];
  h_->countsMoving.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  ringReset(slot.rx);
  ringReset(slot.tx);
  ringReset(slot.alloc);
  ringReset(slot.free);
  region_->endpointSide(s)->claim.store(kClaimNone, std::memory_order_relaxed);
  h_->countsMoving.fetch_add(1, std::memory_order_release);
}

// On stop: what was held for a full RX ring goes back to the pool rather than staying the
// manager's for ever (a restarted manager starts with nothing in flight).
void Manager::dropHeld() {
  for (uint32_t s = 0; s < g_.slots; s++) {
    Held& held = slots_[s].held;
    uint32_t n = held.count - held.next;
    for (uint32_t i = held.next; i < held.count; i++) recycle(entryIndex(held.entry[i]));
    held.count = held.next = 0;
    if (!n) continue;
    region_->managerSide(s)->route.dropped += n;
    h_->manager.dropped += n;
  }
  publishPool();
}

}  // namespace xio
