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
}

Endpoint::Endpoint(std::shared_ptr<Region> region, const std::string& name, uint64_t spinNs)
    : region_(std::move(region)), spinNs_(spinNs) {
  Header* h = region_->header();
  int service = region_->serviceByName(name);
  if (service < 0) {
    std::string known;
    for (uint32_t i = 0; i < kMaxServices; i++)
      if (region_->service(i)->declared.load()) known += (known.empty() ? "" : ", ") + std::string(region_->service(i)->name);
    throw Failure{"UNKNOWN_ENDPOINT", "the chain on prefix '" + region_->prefix() + "' has no endpoint named '" + name +
                                          "' (it has: " + (known.empty() ? "none" : known) + ")"};
  }
  if (!region_->managerAlive())
    throw Failure{"MANAGER_GONE", "the manager of prefix '" + region_->prefix() + "' is no longer running"};
  uint64_t startTime = processStartTime(getpid());
  for (uint32_t i = 0; i < h->slotCount; i++) {
    Slot* s = region_->slot(i);
    uint32_t expected = kSlotFree;
    if (!s->state.compare_exchange_strong(expected, kSlotClaiming)) continue;
    // startTime before pid: the manager reads a claiming slot's pid first and then trusts its
    // start time to tell whether the claimer died half-way.
    s->startTime = startTime;
    __atomic_store_n(&s->pid, uint32_t(getpid()), __ATOMIC_RELEASE);
    s->service = uint16_t(service);
    s->generation++;
    memset(s->name, 0, kNameLength);
    strncpy(s->name, name.c_str(), kNameLength - 1);
    // While the slot is being claimed nobody else writes it, the manager's counters included.
    memset(&s->endpoint, 0, sizeof s->endpoint);
    memset(&s->route, 0, sizeof s->route);
    s->nf.count.store(0);
    s->sleeping.store(0);
    uint16_t instance = 0;
    for (uint32_t j = 0; j < h->slotCount; j++)
      if (j != i && region_->slot(j)->state.load() == kSlotActive && region_->slot(j)->service == service) instance++;
    s->instance = instance;
    s_ = s;
    slot_ = i;
    service_ = uint16_t(service);
    rx_ = region_->ring(i, kRingRx);
    tx_ = region_->ring(i, kRingTx);
    alloc_ = region_->ring(i, kRingAlloc);
    free_ = region_->ring(i, kRingFree);
    s->state.store(kSlotActive, std::memory_order_release);
    h->slotsGeneration.fetch_add(1);
    wakeManager();
    return;
  }
  throw Failure{"NO_SLOT", "all " + std::to_string(h->slotCount) + " endpoint slots of prefix '" + region_->prefix() +
                               "' are taken; create the region with more slots"};
}

Endpoint::~Endpoint() { detach(); }

void Endpoint::requireOpen() const {
  if (closed_.load(std::memory_order_relaxed))
    throw Failure{"DETACHED", "endpoint '" + std::string(s_->name) + "' has detached from prefix '" + region_->prefix() + "'"};
}

void Endpoint::wakeManager() {
  if (wakeIfSleeping(&region_->header()->managerSleeping)) s_->endpoint.wakesSent++;
}

uint32_t Endpoint::rx(uint32_t* descs, uint32_t max) {
  requireOpen();
  return ringDequeue(rx_, descs, max);
}

uint32_t Endpoint::tx(const uint32_t* descs, uint32_t n) {
  requireOpen();
  uint32_t k = ringEnqueue(tx_, descs, n);
  if (k) wakeManager();
  return k;
}

uint32_t Endpoint::malloc(uint32_t* descs, uint32_t n) {
  requireOpen();
  Header* h = region_->header();
  uint32_t got = ringDequeue(alloc_, descs, n);
  if (got < n || ringUsed(alloc_) < h->cacheSize / 2) wakeManager();
  if (got < n) {
    uint64_t deadline = nowNs() + kMallocPatienceNs;
    while (got < n && h->poolFree.load(std::memory_order_relaxed) && nowNs() < deadline) {
      sched_yield();
      got += ringDequeue(alloc_, descs + got, n - got);
    }
    s_->endpoint.mallocFails += n - got;
  }
  uint8_t* buffers = region_->base() + h->buffersOffset;
  for (uint32_t i = 0; i < got; i++) {
    Meta* m = reinterpret_cast<Meta*>(buffers + size_t(h->bufferSize) * descs[i]);
    m->length = 0;
    m->inPort = service_;
    m->prev = service_;
    m->action = action(kActionGate, 0);
    m->flowHash = 0;
    m->timestamp = 0;
  }
  return got;
}

void Endpoint::free(const uint32_t* descs, uint32_t n) {
  requireOpen();
  while (n) {
    uint32_t k = std::min(n, ringRoom(free_, n));
    if (k) {
      ringPublish(free_, descs, k);
      descs += k;
      n -= k;
    }
    wakeManager();
    if (n) {
      if (!region_->managerAlive())
        throw Failure{"MANAGER_GONE", "the manager of prefix '" + region_->prefix() + "' stopped"};
      sched_yield();
    }
  }
}

uint32_t Endpoint::rxWait(uint32_t* descs, uint32_t max, uint64_t timeoutNs) {
  requireOpen();
  uint32_t n = ringDequeue(rx_, descs, max);
  if (n) return n;
  uint64_t start = nowNs(), now = start;
  while (now - start < spinNs_ && now - start < timeoutNs) {
    sched_yield();
    if ((n = ringDequeue(rx_, descs, max))) return n;
    now = nowNs();
  }
  if (now - start >= timeoutNs) return 0;
  waitReadable(timeoutNs - (now - start));
  return ringDequeue(rx_, descs, max);
}

bool Endpoint::waitReadable(uint64_t timeoutNs) {
  uint64_t deadline = nowNs() + timeoutNs;
  while (!closed_.load()) {
    s_->sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the manager sees the flag, or we see its entries
    if (ringHasWork(rx_)) {
      s_->sleeping.store(0, std::memory_order_relaxed);
      return true;
    }
    uint64_t now = nowNs();
    if (now >= deadline) {
      s_->sleeping.store(0, std::memory_order_relaxed);
      return false;
    }
    futexWait(&s_->sleeping, 1, deadline - now);
    s_->sleeping.store(0, std::memory_order_relaxed);
    s_->endpoint.sleeps++;
  }
  return false;
}

void Endpoint::detach() {
  if (closed_.exchange(true)) return;
  // Wake a readable() waiter so it sees closed_ and returns.
  s_->sleeping.store(0);
  futexWake(&s_->sleeping);
  // The manager takes back whatever this endpoint still holds, then frees the slot.
  s_->state.store(kSlotDetaching, std::memory_order_release);
  region_->header()->slotsGeneration.fetch_add(1);
  wakeManager();
}

}  // namespace xio
