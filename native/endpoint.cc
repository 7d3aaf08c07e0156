#include "endpoint.h"

#include <sched.h>
#include <unistd.h>

#include <cstring>

#include "os.h"
#include "ring.h"

namespace xio {

namespace {
// How long malloc waits for the manager to refill the cache while the pool still has buffers:
// long enough for a wake-up across vCPUs (~60 µs here), so only a dry pool counts as a failure.
constexpr uint64_t kMallocPatienceNs = 2000000;
// How long attach waits for the manager to serve the new slot (it returns either way).
constexpr uint64_t kServiceWaitNs = 2000000000;
// How long free() waits for room in a free ring nobody drains before it gives up.
constexpr uint64_t kFreeStallNs = 5000000000;
}

Endpoint::Endpoint(std::shared_ptr<Region> region, const std::string& name, uint64_t spinNs, bool capture, int instance,
                   const std::vector<std::string>& also)
    : region_(std::move(region)), capture_(capture), spinNs_(spinNs) {
  const Geometry& g = region_->geometry();
  auto unknown = [&](const std::string& missing) {
    std::string known;
    for (uint32_t i = 0; i < kMaxServices; i++)
      if (region_->service(i)->declared.load()) known += (known.empty() ? "" : ", ") + std::string(region_->service(i)->name);
    return Failure{"UNKNOWN_ENDPOINT", "the chain on prefix '" + region_->prefix() + "' has no endpoint named '" + missing +
                                           "' (it has: " + (known.empty() ? "none" : known) + ")"};
  };
  int service = capture ? int(kCaptureService) : region_->serviceByName(name);
  std::string slotName = capture ? "capture:" + std::to_string(getpid()) : name;
  if (service < 0) throw unknown(name);
  uint64_t alsoServes = 0;
  for (const std::string& other : also) {
    int id = capture ? -1 : region_->serviceByName(other);
    if (id < 0) throw unknown(other);
    alsoServes |= 1ull << id;
  }
  if (!region_->managerAlive())
    throw Failure{"MANAGER_GONE", "the manager of prefix '" + region_->prefix() + "' is no longer running"};
  if (capture) {
    uint32_t captures = 0;
    for (uint32_t i = 0; i < g.slots; i++)
      captures += region_->managerSide(i)->state.load(std::memory_order_acquire) != kSlotFree &&
                  region_->endpointSide(i)->service == kCaptureService;
    if (captures >= kMaxCaptures)
      throw Failure{"TOO_MANY_CAPTURES", "the chain on prefix '" + region_->prefix() + "' already has " + std::to_string(captures) +
                                             " captures or traces attached, the most it takes; end one first"};
  }
  for (uint32_t i = 0; i < g.slots; i++) {
    // A slot is ours once we hold its lease and the manager has finished with its last
    // occupant (it frees the slot only after taking back everything that one held). Nothing
    // is written before both hold, so a claimer that dies half-way leaves nothing behind.
    if (region_->managerSide(i)->state.load(std::memory_order_acquire) != kSlotFree) continue;
    if (!region_->tryLease(i)) continue;
    if (region_->managerSide(i)->state.load(std::memory_order_acquire) != kSlotFree) {
      region_->releaseLease(i);
      continue;
    }
    region_->openEndpointSide(i);
    EndpointSide* s = region_->endpointSide(i);
    s->pid = uint32_t(getpid());
    s->service = uint16_t(service);
    s->alsoServes = alsoServes;
    s->generation++;
    memset(s->name, 0, kNameLength);
    strncpy(s->name, slotName.c_str(), kNameLength - 1);
    memset(&s->counters, 0, sizeof s->counters);
    s->taps.count.store(0, std::memory_order_relaxed);  // none of a previous occupant's
    s->taps.seq.store(0, std::memory_order_relaxed);
    s->nf.count.store(0);
    s->asleep.store(0);
    // Unless told, the manager numbers it as it takes the slot on: it alone sees every claim, so
    // two instances started at once can never both pick the lowest free number (and then split
    // no flows between them: the manager spreads flows by these numbers).
    s->instance = instance >= 0 ? uint16_t(instance) : kUnnumbered;
    side_ = s;
    managerSide_ = region_->managerSide(i);
    slot_ = i;
    bufferCount_ = g.bufferCount;
    service_ = uint16_t(service);
    rx_ = region_->ring(i, kRingRx);
    tx_ = region_->ring(i, kRingTx);
    alloc_ = region_->ring(i, kRingAlloc);
    free_ = region_->ring(i, kRingFree);
    s->claim.store(kClaimActive, std::memory_order_release);
    region_->doorbell()->claims.fetch_add(1);
    wakeManager();
    awaitService();
    return;
  }
  throw Failure{"NO_SLOT", "all " + std::to_string(g.slots) + " endpoint slots of prefix '" + region_->prefix() +
                               "' are taken; create the region with more slots"};
}

Endpoint::~Endpoint() { detach(); }

// Waits (a little) for the manager to take the slot on and fill its cache, so the first malloc
// finds buffers. A manager not started yet is no error: the endpoint is served once it runs.
// One asking for an instance number a live instance has is taken on once that one goes; if it
// has not gone by the end of the wait, the claim is given up: INSTANCE_TAKEN.
void Endpoint::awaitService() {
  uint64_t deadline = nowNs() + kServiceWaitNs;
  uint32_t state = kSlotFree;
  while (nowNs() < deadline && region_->managerAlive()) {
    state = managerSide_->state.load(std::memory_order_acquire);
    if (state == kSlotActive && (capture_ || ringUsed(alloc_) > 0)) return;
    usleep(50);
  }
  if (state != kSlotWaiting || !region_->managerAlive()) return;
  std::string name(side_->name, strnlen(side_->name, kNameLength));
  std::string number = std::to_string(side_->instance);
  detach();  // the slot goes back: the manager frees it once the lease is let go
  throw Failure{"INSTANCE_TAKEN", "instance " + number + " of endpoint '" + name + "' on prefix '" + region_->prefix() +
                                      "' is served by another live process; stop that one first, or attach as another instance"};
}

void Endpoint::requireOpen() const {
  if (closed_.load(std::memory_order_relaxed))
    throw Failure{"DETACHED", "endpoint '" + std::string(side_->name, strnlen(side_->name, kNameLength)) + "' has detached from prefix '" + region_->prefix() + "'"};
  if (faulted())
    throw Failure{"FAULTED", "the manager of prefix '" + region_->prefix() + "' cut endpoint '" + std::string(side_->name, strnlen(side_->name, kNameLength)) +
                                 "' off: it wrote a ring index no correct endpoint writes (a stray write into its own slot?). "
                                 "Its buffers were taken back; detach and attach again"};
}

void Endpoint::wakeManager() {
  // Atomic: an afpacket port wakes from two threads.
  if (ringIfSleeping(&region_->header()->managerSleeping, &side_->managerBell)) __atomic_fetch_add(&side_->counters.wakesSent, 1, __ATOMIC_RELAXED);
}

uint32_t Endpoint::rx(uint32_t* descs, uint32_t max) {
  requireOpen();
  return take(descs, max);
}

// What the manager says of each packet (who sent it, which of this endpoint's services it is
// for, its length as routed) goes into the buffer's metadata here: the buffer is now this
// endpoint's, its NF is about to read it, and the manager never touches packet memory.
uint32_t Endpoint::take(uint32_t* descs, uint32_t max) {
  uint32_t buffers = bufferCount_;
  Region& region = *region_;
  uint32_t n = ringConsume(rx_, max, [&](uint32_t i, Entry e) {
    uint32_t d = entryIndex(e);
    descs[i] = d;
    if (d >= buffers) return;  // the manager never sends one; never write past the pool
    Meta* m = region.meta(d);
    m->length = entryLength(e);
    m->prev = uint16_t(entryWord(e));
    m->action = unpackAction(entryAction(e));
  });
  if (!n) return 0;
  // The tail stored, then the flag read (the fence pairs with the manager's flag, fence, room
  // look): either it sees this room or this sees its flag. rings.ts gets it from Atomics.store.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (managerSide_->roomWanted.load(std::memory_order_relaxed)) wakeManager();
  return n;
}

// The entry for descriptor d: on a TX ring packed from its metadata (the sender's own buffer,
// just written, in its cache), so the manager routes without reading the buffer; on a free ring
// the index alone. An index the pool does not have becomes kNoIndex, refused by the manager,
// never another buffer's.
Entry Endpoint::entryFor(uint32_t d, bool withMeta) const {
  if (d >= bufferCount_) return makeEntry(kNoIndex, 0, 0, 0);
  if (!withMeta) return d;
  const Meta* m = region_->meta(d);
  return makeEntry(d, m->length, foldHash(m->flowHash), packAction(m->action));
}

uint32_t Endpoint::publish(const RingRef& ring, uint32_t* marked, const uint32_t* descs, uint32_t n, bool withMeta) {
  uint32_t taken[2] = {alloc_.cons->tail.load(std::memory_order_relaxed), rx_.cons->tail.load(std::memory_order_relaxed)};
  Entry marks[2];
  uint32_t m = 0;
  if (taken[0] != marked[0]) marks[m++] = kEntryMark | kMark | (taken[0] & kMarkValue);
  if (taken[1] != marked[1]) marks[m++] = kEntryMark | kMark | kMarkRx | (taken[1] & kMarkValue);
  uint32_t room = ringRoom(ring, n + m);
  if (room <= m) {
    ring.prod->refused += n;
    return 0;
  }
  uint32_t k = std::min(n, room - m);
  ringPublishMarked(ring, marks, m, k, [&](uint32_t i) { return entryFor(descs[i], withMeta); });
  ring.prod->refused += n - k;
  marked[0] = taken[0];
  marked[1] = taken[1];
  return k;
}

uint32_t Endpoint::tx(const uint32_t* descs, uint32_t n) {
  requireOpen();
  if (capture_) throw Failure{"CAPTURE_ONLY", "a capture endpoint sends nothing into the chain; free what it received instead"};
  uint32_t k = publish(tx_, markedTx_, descs, n, true);
  if (k) wakeManager();
  return k;
}

uint32_t Endpoint::malloc(uint32_t* descs, uint32_t n) {
  requireOpen();
  if (capture_) throw Failure{"CAPTURE_ONLY", "a capture endpoint has no buffers of its own: it receives copies"};
  Header* h = region_->header();
  const Geometry& g = region_->geometry();
  auto index = [](uint32_t* to) { return [to](uint32_t i, Entry e) { to[i] = entryIndex(e); }; };
  uint32_t got = ringConsume(alloc_, n, index(descs));
  // At its share, no refill comes: the manager is not woken for one, nor waited for (what this
  // endpoint gives back wakes it, and ends that).
  bool atShare = managerSide_->atShare.load(std::memory_order_relaxed);
  if ((got < n || ringUsed(alloc_) < g.cacheSize / 2) && !atShare) wakeManager();
  if (got < n) {
    uint64_t deadline = nowNs() + kMallocPatienceNs;
    while (got < n && h->poolFree.load(std::memory_order_relaxed) && !atShare && nowNs() < deadline) {
      sched_yield();
      got += ringConsume(alloc_, n - got, index(descs + got));
    }
    side_->counters.mallocFails += n - got;
  }
  for (uint32_t i = 0; i < got; i++) {
    if (descs[i] >= g.bufferCount) continue;  // the manager never sends one; never write past the pool
    Meta* m = region_->meta(descs[i]);
    m->length = 0;
    m->inPort = service_;
    m->prev = service_;
    m->action = action(kActionGate, 0);
    m->flowHash = 0;
    m->timestamp = 0;
    m->trace = 0;  // a buffer that carried a traced packet starts untraced
  }
  return got;
}

void Endpoint::free(const uint32_t* descs, uint32_t n) {
  requireOpen();
  uint64_t lastProgress = nowNs();
  while (n) {
    uint32_t k = publish(free_, markedFree_, descs, n, false);
    free_.prod->refused -= n - k;  // not refused: retried below until the manager drains
    descs += k;
    n -= k;
    wakeManager();
    if (!n) break;
    uint64_t now = nowNs();
    if (k) lastProgress = now;
    if (!region_->managerAlive())
      throw Failure{"MANAGER_GONE", "the manager of prefix '" + region_->prefix() + "' stopped"};
    requireOpen();  // cut off meanwhile: nobody will drain this ring again
    if (now - lastProgress > kFreeStallNs)
      throw Failure{"MANAGER_STALLED", "the manager of prefix '" + region_->prefix() +
                                           "' has not drained this endpoint's free ring for 5 s (is it stopped?)"};
    sched_yield();
  }
}

uint32_t Endpoint::rxWait(uint32_t* descs, uint32_t max, uint64_t timeoutNs, bool spin) {
  requireOpen();
  uint32_t n = take(descs, max);
  if (n) return n;
  uint64_t start = nowNs(), now = start;
  while (spin && now - start < spinNs_ && now - start < timeoutNs) {
    sched_yield();
    if ((n = take(descs, max))) return n;
    now = nowNs();
  }
  if (now - start >= timeoutNs) return 0;
  waitReadable(timeoutNs - (now - start));
  return take(descs, max);
}

// Sleeps on the manager's wake word for this slot. The request is counted before the ring is
// checked and the word read before that: the manager, publishing first and reading requests
// second, either sees this request and bumps the word (so the wait returns at once), or this
// check sees its entries. Several threads may wait at once (rxWait and a readable()): each
// adds its own request and nobody clears another's, so none sleeps through a delivery.
bool Endpoint::waitReadable(uint64_t timeoutNs) {
  uint64_t deadline = nowNs() + timeoutNs;
  for (;;) {
    uint32_t seq;
    bool ready = armWait(&seq);
    struct Disarm {
      Endpoint* e;
      ~Disarm() { e->disarm(); }
    } disarm{this};
    if (ready) return !closed_.load() && !faulted();
    uint64_t now = nowNs();
    if (now >= deadline) return false;
    beginSleep();
    futexWait(&managerSide_->wakeSeq, seq, deadline - now);
    endSleep();
  }
}

bool Endpoint::armWait(uint32_t* seq) {
  // Counted in this process first, so detach() (closed_, then waiters_) either is seen here or
  // waits until this waiter no longer writes the side.
  waiters_.fetch_add(1);
  if (closed_.load() || faulted()) return true;
  *seq = managerSide_->wakeSeq.load(std::memory_order_acquire);
  side_->sleepRequests.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return ringHasWork(rx_);
}

uint32_t Endpoint::setTaps(const uint32_t* words, uint32_t n) {
  requireOpen();
  if (!capture_) throw Failure{"BAD_TAPS", "only a capture endpoint has taps"};
  if (n > kMaxTaps) throw Failure{"BAD_TAPS", "a capture takes at most " + std::to_string(kMaxTaps) + " taps, got " + std::to_string(n)};
  CaptureTaps& taps = side_->taps;
  for (uint32_t i = 0; i < n; i++) taps.taps[i].store(words[i], std::memory_order_relaxed);
  taps.count.store(n, std::memory_order_relaxed);
  // Past whatever the manager last acknowledged, so no earlier acknowledgement (of this
  // endpoint's, or of the slot's previous occupant's) can pass for this one.
  uint32_t seen = managerSide_->tapsSeen.load(std::memory_order_acquire);
  tapsSeq_ = (tapsSeq_ > seen ? tapsSeq_ : seen) + 1;
  taps.seq.store(tapsSeq_, std::memory_order_release);  // pairs with the manager's acquire in readTaps
  region_->doorbell()->claims.fetch_add(1);             // seq_cst: after the taps, and makes it refresh
  wakeManager();
  return tapsSeq_;
}

bool Endpoint::waitTaps(uint32_t seq, uint64_t timeoutNs) {
  uint64_t deadline = nowNs() + timeoutNs;
  for (;;) {
    requireOpen();
    // This call's seq, or a later one of this endpoint's (read in the same pass or after).
    if (int32_t(managerSide_->tapsSeen.load(std::memory_order_acquire) - seq) >= 0) return true;
    if (nowNs() >= deadline || !region_->managerAlive()) return false;
    usleep(100);
  }
}

// Says it is leaving, makes its side read-only again (a stray write through a view kept after
// detaching must not reach the slot's next occupant), then lets go of the lease: the manager
// routes what this endpoint already transmitted, takes back whatever it still holds, and frees
// the slot.
void Endpoint::detach() {
  if (closed_.exchange(true)) return;
  // Wake a readable() waiter so it sees closed_ and returns (a waiter that has not yet gone to
  // sleep sees closed_ within its timeout slice, 50 ms), and wait until none is left.
  futexWake(&managerSide_->wakeSeq);
  while (waiters_.load()) {
    futexWake(&managerSide_->wakeSeq);
    usleep(100);
  }
  side_->claim.store(kClaimDetaching, std::memory_order_release);
  region_->closeEndpointSide(slot_);
  region_->releaseLease(slot_);
  // Last, once the lease is let go: the manager then frees the slot as it drains it, for the
  // next claimer at once. The claims counter is what changed (the manager sleeps on it too).
  Doorbell* doorbell = region_->doorbell();
  doorbell->claims.fetch_add(1);
  wakeIfSleeping(&region_->header()->managerSleeping, &doorbell->claims);
}

}  // namespace xio
