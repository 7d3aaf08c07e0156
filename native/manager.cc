#include "manager.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
constexpr uint64_t kHeldRetryNs = 1000000;  // a full RX ring does not wake us when it drains
constexpr uint64_t kFullLivenessEveryNs = 250000000;
uint16_t loadRoute(const uint16_t* r) { return __atomic_load_n(r, __ATOMIC_RELAXED); }
}  // namespace

Manager::Manager(std::shared_ptr<Region> region, ManagerConfig config)
    : region_(std::move(region)), h_(region_->header()), config_(config) {
  config_.burst = std::clamp<uint32_t>(config_.burst, 1, 256);
  slots_.resize(h_->slotCount);
  instances_.resize(kMaxServices);
}

Manager::~Manager() { stop(); }

void Manager::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void Manager::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  h_->managerSleeping.store(0);
  futexWake(&h_->managerSleeping);
  thread_.join();
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
    s->declared.store(1, std::memory_order_release);
    return int(i);
  }
  throw Failure{"TOO_MANY_ENDPOINTS", "a chain holds at most " + std::to_string(kMaxServices) + " endpoint names"};
}

void Manager::route(uint32_t from, uint32_t gate, uint32_t to) {
  if (from >= kMaxServices || gate >= kMaxGates || (to >= kMaxServices && to != kNoService))
    throw Failure{"BAD_ROUTE", "route " + std::to_string(from) + ":" + std::to_string(gate) + " -> " +
                                   std::to_string(to) + " is out of range (gates 0.." + std::to_string(kMaxGates - 1) + ")"};
  __atomic_store_n(&region_->service(from)->routes[gate], uint16_t(to), __ATOMIC_RELEASE);
}

void Manager::run() {
  if (config_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(config_.cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  h_->managerTid = uint32_t(syscall(SYS_gettid));
  uint64_t idleSince = 0;
  lastLiveness_ = nowNs();
  while (!stop_.load(std::memory_order_relaxed)) {
    if (h_->slotsGeneration.load(std::memory_order_acquire) != seenGeneration_) refreshSlots();
    bool busy = pollOnce();
    h_->manager.loops++;
    if (busy) {
      h_->manager.busyLoops++;
      idleSince = 0;
      if ((h_->manager.loops & 1023) == 0 && nowNs() - lastLiveness_ > config_.livenessEveryNs) checkLiveness();
      continue;
    }
    uint64_t now = nowNs();
    if (now - lastLiveness_ > config_.livenessEveryNs) checkLiveness();
    if (!idleSince) idleSince = now;
    if (now - idleSince < config_.spinNs) {
      sched_yield();  // hand the core over if someone else wants it, instead of pause-spinning
    } else {
      sleep();
      idleSince = 0;
    }
  }
}

bool Manager::pollOnce() {
  uint32_t work = 0;
  bool finishedDetaching = false;
  for (uint32_t s : active_) {
    work += drainFree(s);
    work += routeTx(s);
    if (slots_[s].detaching && !ringHasWork(region_->ring(s, kRingTx)) && slots_[s].held.next == slots_[s].held.count) {
      reclaim(s, false);
      finishedDetaching = true;
    }
  }
  for (uint32_t s : active_) {
    if (slots_[s].active && !slots_[s].detaching) work += refill(s);
  }
  if (finishedDetaching) refreshSlots();
  return work != 0;
}

void Manager::sleep() {
  h_->managerSleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the flag, then the re-check: pairs with wakeIfSleeping
  if (anyInput() || h_->slotsGeneration.load() != seenGeneration_ || stop_.load()) {
    h_->managerSleeping.store(0, std::memory_order_relaxed);
    return;
  }
  bool holding = false;
  for (uint32_t s : active_) holding = holding || slots_[s].held.next < slots_[s].held.count;
  uint64_t timeout = holding ? kHeldRetryNs : config_.sleepNs;
  bool woken = futexWait(&h_->managerSleeping, 1, timeout);
  h_->managerSleeping.store(0, std::memory_order_relaxed);
  h_->manager.sleeps++;
  if (woken) h_->manager.wakeups++;
}

bool Manager::anyInput() {
  uint32_t poolFree = h_->poolFree.load(std::memory_order_relaxed);
  for (uint32_t s : active_) {
    if (ringHasWork(region_->ring(s, kRingTx)) || ringHasWork(region_->ring(s, kRingFree))) return true;
    if (poolFree && ringUsed(region_->ring(s, kRingAlloc)) < h_->cacheSize / 2) return true;
  }
  return false;
}

void Manager::recycle(uint32_t d) {
  region_->owners()[d] = kOwnerPool;
  uint32_t n = h_->poolFree.load(std::memory_order_relaxed);
  region_->poolStack()[n] = d;
  h_->poolFree.store(n + 1, std::memory_order_relaxed);
}

uint32_t Manager::drainFree(uint32_t s) {
  uint32_t n = ringDequeue(region_->ring(s, kRingFree), scratch_, 1024);
  uint16_t* owners = region_->owners();
  for (uint32_t i = 0; i < n; i++) {
    uint32_t d = scratch_[i];
    if (d < h_->bufferCount && owners[d] == s)
      recycle(d);
    else
      h_->manager.invalid++;  // not this endpoint's to free: recycling it could hand it out twice
  }
  region_->slot(s)->route.freed += n;
  return n;
}

uint32_t Manager::refill(uint32_t s) {
  Ring* alloc = region_->ring(s, kRingAlloc);
  uint32_t used = ringUsed(alloc);
  if (used >= h_->cacheSize / 2) return 0;
  uint32_t want = std::min<uint32_t>(h_->cacheSize - used, 1024);
  uint32_t free = h_->poolFree.load(std::memory_order_relaxed);
  uint32_t k = std::min(want, free);
  if (k < want) h_->manager.poolDry++;
  if (!k) return 0;
  uint32_t* stack = region_->poolStack();
  uint16_t* owners = region_->owners();
  for (uint32_t i = 0; i < k; i++) {
    uint32_t d = stack[free - 1 - i];
    owners[d] = uint16_t(s);
    scratch_[i] = d;
  }
  h_->poolFree.store(free - k, std::memory_order_relaxed);
  ringPublish(alloc, scratch_, k);  // room is certain: cacheSize <= ringSize
  return k;
}

uint16_t Manager::pick(uint32_t service, uint32_t flowHash) const {
  const auto& live = instances_[service];
  if (live.empty()) return kNoSlot;
  return live.size() == 1 ? live[0] : live[flowHash % live.size()];
}

uint32_t Manager::routeTx(uint32_t s) {
  Held& held = slots_[s].held;
  if (held.next < held.count) return deliverHeld(s);
  Slot* from = region_->slot(s);
  uint32_t n = ringDequeue(region_->ring(s, kRingTx), held.desc, config_.burst);
  if (!n) return 0;
  uint16_t* owners = region_->owners();
  const uint16_t* routes = region_->service(slots_[s].service)->routes;
  uint64_t bytes = 0;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t d = held.desc[i];
    if (d >= h_->bufferCount || owners[d] != s) {
      // Not the sender's (a duplicate in this burst, a buffer it already freed or sent): passing
      // it on would give one buffer two owners.
      h_->manager.invalid++;
      continue;
    }
    owners[d] = kOwnerManager;
    Meta* m = region_->meta(d);
    bytes += m->length;
    uint32_t kind = m->action >> 24, arg = m->action & 0xffffff;
    if (kind == kActionDrop) {
      recycle(d);
      from->route.dropped++;
      h_->manager.dropped++;
      continue;
    }
    uint32_t to = kind == kActionGate ? (arg < kMaxGates ? loadRoute(&routes[arg]) : kNoService)
                                      : (kind == kActionTo && arg < kMaxServices ? arg : kNoService);
    if (to >= kMaxServices || instances_[to].empty()) {
      recycle(d);
      from->route.noRoute++;
      h_->manager.noRoute++;
      continue;
    }
    held.desc[kept] = d;
    held.dest[kept] = uint16_t(to);  // a service; the instance is picked at delivery
    kept++;
  }
  from->route.txPackets += n;
  from->route.txBytes += bytes;
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
  uint16_t prev = slots_[s].service;
  uint16_t* owners = region_->owners();
  uint32_t start = held.next;
  while (held.next < held.count) {
    uint32_t first = held.next;
    uint16_t dest = pick(held.dest[first], region_->meta(held.desc[first])->flowHash);
    if (dest == kNoSlot) {  // every instance died while this waited
      recycle(held.desc[first]);
      region_->slot(s)->route.noRoute++;
      h_->manager.noRoute++;
      held.next++;
      continue;
    }
    uint32_t end = first + 1;
    while (end < held.count && held.dest[end] == held.dest[first] &&
           pick(held.dest[end], region_->meta(held.desc[end])->flowHash) == dest)
      end++;
    Ring* rx = region_->ring(dest, kRingRx);
    uint32_t k = std::min(end - first, ringRoom(rx, end - first));
    if (!k) break;
    uint64_t bytes = 0;
    for (uint32_t i = first; i < first + k; i++) {
      uint32_t d = held.desc[i];
      Meta* m = region_->meta(d);
      m->prev = prev;
      m->action = action(kActionGate, 0);  // a receiver that just transmits uses its own gate 0
      bytes += m->length;
      owners[d] = dest;
    }
    ringPublish(rx, held.desc + first, k);
    Slot* to = region_->slot(dest);
    to->route.rxPackets += k;
    to->route.rxBytes += bytes;
    h_->manager.routed += k;
    if (wakeIfSleeping(&to->sleeping)) to->route.wakes++;
    held.next += k;
    if (held.next < end) break;
  }
  return held.next - start;
}

void Manager::refreshSlots() {
  seenGeneration_ = h_->slotsGeneration.load(std::memory_order_acquire);
  for (uint32_t s = 0; s < h_->slotCount; s++) {
    uint32_t state = region_->slot(s)->state.load(std::memory_order_acquire);
    if (state == kSlotActive && !slots_[s].active) {
      // Our own copy, checked once: the region is writable by every endpoint.
      uint16_t service = region_->slot(s)->service;
      if (service >= kMaxServices) continue;
      slots_[s].active = true;
      slots_[s].service = service;
    }
    // A detaching endpoint gets nothing new, but what it transmitted before leaving is still
    // routed; pollOnce reclaims the slot once its TX ring and held descriptors are empty.
    if (state == kSlotDetaching && slots_[s].active) slots_[s].detaching = true;
    // Claimed and left before we ever served it: it holds nothing, so free the slot now.
    if (state == kSlotDetaching && !slots_[s].active) reclaim(s, false);
  }
  active_.clear();
  for (auto& live : instances_) live.clear();
  for (uint32_t s = 0; s < h_->slotCount; s++) {
    if (!slots_[s].active) continue;
    active_.push_back(s);
    if (!slots_[s].detaching) instances_[slots_[s].service].push_back(uint16_t(s));
  }
  for (uint32_t i = 0; i < kMaxServices; i++) region_->service(i)->instances = uint32_t(instances_[i].size());
}

void Manager::checkLiveness() {
  lastLiveness_ = nowNs();
  bool changed = false;
  for (uint32_t s = 0; s < h_->slotCount; s++) {
    Slot* slot = region_->slot(s);
    uint32_t state = slot->state.load(std::memory_order_acquire);
    uint32_t pid = __atomic_load_n(&slot->pid, __ATOMIC_ACQUIRE);
    if (state == kSlotFree || pid == 0) continue;  // pid 0: a claim still being written
    // A detached endpoint may exit at once; what it transmitted before is still routed, and
    // pollOnce reclaims the slot when its TX ring is empty.
    if (state == kSlotDetaching) continue;
    // kill(pid, 0) is a cheap syscall and sees most deaths at once; the /proc start-time check
    // (~15 µs, on this routing thread) also catches zombies and reused pids, so it runs less often.
    uint64_t now = nowNs();
    bool gone = kill(pid_t(pid), 0) != 0 && errno == ESRCH;
    if (!gone && now - slots_[s].verifiedAt < kFullLivenessEveryNs) continue;
    slots_[s].verifiedAt = now;
    if (!gone && processAlive(int(pid), slot->startTime)) continue;
    if (state == kSlotClaiming) {
      slot->pid = 0;
      slot->startTime = 0;
      slot->state.store(kSlotFree, std::memory_order_release);
    } else {
      reclaim(s, true);
      changed = true;
    }
  }
  if (changed) {
    seenGeneration_ = ~0u;
    refreshSlots();
  }
}

// Takes back every buffer the endpoint held (in its rings, its cache, its hands, or held here
// for it): exactly those whose owner is this slot, since only the manager changes owners.
void Manager::reclaim(uint32_t s, bool died) {
  Slot* slot = region_->slot(s);
  slots_[s].active = false;
  slots_[s].detaching = false;
  slots_[s].verifiedAt = 0;
  uint64_t count = 0;
  Held& held = slots_[s].held;
  for (uint32_t i = held.next; i < held.count; i++, count++) recycle(held.desc[i]);  // owned by the manager
  held.count = held.next = 0;
  uint16_t* owners = region_->owners();
  for (uint32_t d = 0; d < h_->bufferCount; d++) {
    if (owners[d] != s) continue;
    recycle(d);
    count++;
  }
  for (uint32_t k = 0; k < kRingsPerSlot; k++) ringReset(region_->ring(s, SlotRing(k)), h_->ringSize);
  slot->route.reclaimed = count;
  h_->manager.reclaimed += count;
  if (died) {
    h_->manager.deaths++;
    region_->service(slots_[s].service)->deaths++;
  }
  slot->pid = 0;
  slot->startTime = 0;
  slot->state.store(kSlotFree, std::memory_order_release);
}

}  // namespace xio
