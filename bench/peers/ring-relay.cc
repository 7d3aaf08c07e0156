// The design's floor (issue #11): xio-chain's data path with nothing but the design in it, in
// C++ on native/ring.h. Two endpoint processes, A and B, and a manager thread in the parent,
// over one shared mapping laid out as the real region lays out its slots (native/layout.h's
// EndpointSide and ManagerSide, entries placed as geometryOf places them) and a pool of 2 KiB
// buffers with their 64-byte metadata. Each endpoint has its four rings (RX and alloc filled by
// the manager, TX and free filled by the endpoint); A's TX goes to B's RX and B's TX to A's RX.
//
// Everyone waits as xio-chain does, so the floor is the design's and not a busy-loop toy: an
// endpoint polls its RX ring with sched_yield() for spinUs, then sleeps on its slot's wake word
// (the same request/sequence protocol as Endpoint::waitReadable); the manager polls with
// sched_yield() for 100 µs without work, then sleeps on its flag and the endpoints' bells; a
// producer wakes a sleeper once per burst (native/os.h ringIfSleeping, Manager::wakeEndpoint).
//
// What the floor leaves out, so xio-chain's distance from it is what there is to win: the
// manager routes by a fixed table and never touches packet memory (issue #11's target), and
// it checks ownership with one word per buffer in its own memory (the design keeps the checks;
// the marks that let the real manager refuse stale descriptors are left out). No JavaScript.
//
//   ring-relay rtt <size> <rounds> <managerCpu> <aCpu> <bCpu> [spinUs]
//     A writes `size` payload bytes into one buffer and sends it; B reads every byte (as an
//     NF reads a packet) and sends it back. Prints {"median","p99","mean"} in µs, and the
//     futex sleeps and wakes that happened, so a reader can tell a spinning hand-over from a
//     woken one. From 16 B up, B also writes into the first 8 payload bytes when it had the
//     packet (CLOCK_MONOTONIC), and A prints the two legs' medians: "toB" and "back".
//   ring-relay tput <ms> <managerCpu> <aCpu> <bCpu> [spinUs]
//     A takes bursts of 32 buffers from its cache (alloc ring), sets their length and sends
//     them; B receives and frees them; the manager routes, recycles and refills. Prints
//     {"mdps": M descriptors/s delivered to B, measured over the middle of the run}.
// A CPU of -1 leaves that actor to the scheduler.
#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "os.h"
#include "ring.h"

using namespace xio;

namespace {

constexpr uint32_t kRingSize = 1024;    // RegionConfig's defaults
constexpr uint32_t kCacheSize = 256;
constexpr uint32_t kBuffers = 4096;
constexpr uint32_t kBufferSize = 2048;
constexpr uint32_t kBufferStride = bufferStrideOf(kBufferSize);  // as the real pool lays buffers out
constexpr uint32_t kDataOffset = kMetaSize + 128;  // metadata + headroom, as the real pool
constexpr uint32_t kBurst = 32;
constexpr uint64_t kManagerSpinNs = 100000;   // ManagerConfig::spinNs
constexpr uint64_t kManagerSleepNs = 50000000;
constexpr uint32_t kSlots = 2;                // A = 0, B = 1
constexpr uint32_t kOwnerPool = 0xff, kOwnerManager = 0xfe;

size_t alignUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// What the parent and the children share besides the slots and buffers.
struct Control {
  alignas(64) std::atomic<uint32_t> managerSleeping;  // the manager's sleeping flag, as in the real region's header
  std::atomic<uint32_t> managerBells[kSlots];         // each endpoint's bell (EndpointSide::managerBell)
  alignas(kCacheLine) std::atomic<uint32_t> ready;   // endpoints up
  std::atomic<uint32_t> go;
  std::atomic<uint32_t> stop;
  alignas(kCacheLine) std::atomic<uint64_t> delivered;  // tput: descriptors B has received
  uint64_t endpointSleeps[kSlots];
  uint64_t managerWakes;
};

// The real region's slot geometry (native/region.cc geometryOf): each side on its own pages,
// the manager's entries half a page off the endpoint's within a page.
struct SlotGeometry {
  uint32_t endpointEntries, managerEntries, managerSideOffset, stride;
  SlotGeometry() {
    endpointEntries = uint32_t(alignUp(sizeof(EndpointSide), kCacheLine));
    managerEntries = uint32_t(alignUp(sizeof(ManagerSide), kCacheLine));
    uint32_t wantedInPage = (endpointEntries + kPage / 2) % kPage;
    managerEntries += (wantedInPage - managerEntries % kPage + kPage) % kPage;
    managerSideOffset = uint32_t(alignUp(endpointEntries + 2 * sizeof(Entry) * kRingSize, kPage));
    stride = managerSideOffset + uint32_t(alignUp(managerEntries + 2 * sizeof(Entry) * kRingSize, kPage));
  }
};

struct Shared {
  uint8_t* base;
  SlotGeometry g;
  size_t slotsOffset, buffersOffset, total;
  Control* control() const { return reinterpret_cast<Control*>(base); }
  EndpointSide* endpoint(uint32_t s) const { return reinterpret_cast<EndpointSide*>(base + slotsOffset + size_t(g.stride) * s); }
  ManagerSide* manager(uint32_t s) const {
    return reinterpret_cast<ManagerSide*>(base + slotsOffset + size_t(g.stride) * s + g.managerSideOffset);
  }
  Meta* meta(uint32_t d) const { return reinterpret_cast<Meta*>(base + buffersOffset + size_t(kBufferStride) * d); }
  uint8_t* data(uint32_t d) const { return reinterpret_cast<uint8_t*>(meta(d)) + kDataOffset; }
  RingRef ring(uint32_t s, SlotRing which) const {  // as Region::ring
    EndpointSide* e = endpoint(s);
    ManagerSide* m = manager(s);
    auto* ee = reinterpret_cast<Entry*>(reinterpret_cast<uint8_t*>(e) + g.endpointEntries);
    auto* me = reinterpret_cast<Entry*>(reinterpret_cast<uint8_t*>(m) + g.managerEntries);
    RingRef r;
    r.size = kRingSize;
    r.mask = kRingSize - 1;
    switch (which) {
      case kRingRx: r.prod = &m->rx; r.cons = &e->rx; r.entries = me; break;
      case kRingAlloc: r.prod = &m->alloc; r.cons = &e->alloc; r.entries = me + kRingSize; break;
      case kRingTx: r.prod = &e->tx; r.cons = &m->tx; r.entries = ee; break;
      default: r.prod = &e->free; r.cons = &m->free; r.entries = ee + kRingSize; break;
    }
    return r;
  }
};

// One mapping, shared by fork: real shared memory between real processes, gone with them (no
// name in /dev/shm to clean up after a crash).
Shared mapShared() {
  Shared sh;
  sh.slotsOffset = kPage * 2;
  sh.buffersOffset = alignUp(sh.slotsOffset + size_t(sh.g.stride) * kSlots, kPage);
  sh.total = alignUp(sh.buffersOffset + size_t(kBufferStride) * kBuffers, kPage);
  void* p = mmap(nullptr, sh.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    perror("ring-relay: mmap");
    exit(1);
  }
  sh.base = static_cast<uint8_t*>(p);
  static_assert(sizeof(Control) <= 2 * kPage);
  return sh;
}

// ---- The endpoint's side: Endpoint::tx, malloc, free, rxWait and waitReadable, minus marks.
struct Endpoint {
  const Shared& sh;
  uint32_t slot;
  uint64_t spinNs;
  RingRef rx, tx, alloc, free;
  Endpoint(const Shared& s, uint32_t slot, uint64_t spinNs)
      : sh(s), slot(slot), spinNs(spinNs), rx(s.ring(slot, kRingRx)), tx(s.ring(slot, kRingTx)),
        alloc(s.ring(slot, kRingAlloc)), free(s.ring(slot, kRingFree)) {}

  void wakeManager() { ringIfSleeping(&sh.control()->managerSleeping, &sh.control()->managerBells[slot]); }

  // Entries as xio-chain's endpoints make them: a TX entry packed from the buffer's metadata,
  // the others the index alone.
  uint32_t enqueue(const RingRef& r, const uint32_t* d, uint32_t n, bool withMeta) {
    uint32_t k = std::min(n, ringRoom(r, n));
    ringPublishMarked(r, nullptr, 0, k, [&](uint32_t i) {
      if (!withMeta) return Entry(d[i]);
      const Meta* m = sh.meta(d[i]);
      return makeEntry(d[i], m->length, foldHash(m->flowHash), packAction(m->action));
    });
    return k;
  }
  static uint32_t dequeue(const RingRef& r, uint32_t* d, uint32_t max) {
    return ringConsume(r, max, [d](uint32_t i, Entry e) { d[i] = entryIndex(e); });
  }

  uint32_t send(const uint32_t* d, uint32_t n) {
    uint32_t k = enqueue(tx, d, n, true);
    if (k) wakeManager();
    return k;
  }
  // Waits for room as long as the run lasts: once it is over the manager stops draining, and a
  // side still waiting must leave rather than wait for ever.
  bool over() const { return sh.control()->stop.load(std::memory_order_relaxed); }
  void sendAll(const uint32_t* d, uint32_t n) {
    for (uint32_t done = 0; done < n && !over();) {
      uint32_t k = send(d + done, n - done);
      done += k;
      if (done < n) sched_yield();  // the manager is behind: let it (or whoever shares the CPU) run
    }
  }
  uint32_t malloc(uint32_t* d, uint32_t n) {
    uint32_t got = dequeue(alloc, d, n);
    if (got < n || ringUsed(alloc) < kCacheSize / 2) wakeManager();
    return got;
  }
  void freeAll(const uint32_t* d, uint32_t n) {
    for (uint32_t done = 0; done < n && !over();) {
      done += enqueue(free, d + done, n - done, false);
      wakeManager();
      if (done < n) sched_yield();
    }
  }
  uint32_t rxWait(uint32_t* d, uint32_t max, uint64_t timeoutNs) {
    uint32_t n = dequeue(rx, d, max);
    if (n) return n;
    uint64_t start = nowNs(), now = start;
    while (now - start < spinNs && now - start < timeoutNs) {
      sched_yield();
      if ((n = dequeue(rx, d, max))) return n;
      now = nowNs();
    }
    if (now - start >= timeoutNs) return 0;
    waitReadable(timeoutNs - (now - start));
    return dequeue(rx, d, max);
  }
  // The request is counted before the ring is checked, the word read before that: the
  // manager, publishing then reading requests, either sees it and bumps the word, or the
  // check sees its entries (Endpoint::waitReadable).
  void waitReadable(uint64_t timeoutNs) {
    EndpointSide* side = sh.endpoint(slot);
    ManagerSide* m = sh.manager(slot);
    uint32_t seq = m->wakeSeq.load(std::memory_order_acquire);
    side->sleepRequests.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ringHasWork(rx)) return;
    futexWait(&m->wakeSeq, seq, timeoutNs);
    side->counters.sleeps++;
  }
};

// ---- The manager: Manager::run's loop over the two slots.
struct Relay {
  const Shared& sh;
  RingRef rx[kSlots], tx[kSlots], alloc[kSlots], free[kSlots];
  uint32_t wakeRequests[kSlots] = {};
  // Manager memory, never the region's: the pool's free stack and who holds each buffer.
  std::vector<uint32_t> freeStack, owners;
  Entry scratch[1024];
  uint64_t wakes = 0;

  explicit Relay(const Shared& s) : sh(s), owners(kBuffers, kOwnerPool) {
    for (uint32_t i = 0; i < kSlots; i++) {
      rx[i] = s.ring(i, kRingRx);
      tx[i] = s.ring(i, kRingTx);
      alloc[i] = s.ring(i, kRingAlloc);
      free[i] = s.ring(i, kRingFree);
      // One behind, as takeOn does: the first delivery wakes a sleeper that slept early.
      wakeRequests[i] = s.endpoint(i)->sleepRequests.load() - 1;
    }
    for (uint32_t d = kBuffers; d-- > 0;) freeStack.push_back(d);
  }

  void wakeEndpoint(uint32_t s) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint32_t requests = sh.endpoint(s)->sleepRequests.load(std::memory_order_relaxed);
    if (requests == wakeRequests[s]) return;
    wakeRequests[s] = requests;
    ManagerSide* side = sh.manager(s);
    side->wakeSeq.fetch_add(1, std::memory_order_release);
    futexWake(&side->wakeSeq);
    wakes++;
  }

  uint32_t drainFree(uint32_t s) {
    uint32_t n = ringDequeue(free[s], scratch, 1024);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t d = entryIndex(scratch[i]);
      if (d >= kBuffers || owners[d] != s) continue;  // not its to free: recycling it could hand it out twice
      owners[d] = kOwnerPool;
      freeStack.push_back(d);
    }
    return n;
  }

  // A's TX to B's RX and back. Only as many are taken as the destination has room for, so a
  // full RX ring pushes back into the sender's TX ring and nothing is held here.
  uint32_t route(uint32_t s) {
    uint32_t dest = s ^ 1;
    uint32_t room = ringRoom(rx[dest], kBurst);
    if (!room || !ringHasWork(tx[s])) return 0;
    uint32_t n = ringDequeue(tx[s], scratch, std::min(room, kBurst));
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t d = entryIndex(scratch[i]);
      if (d >= kBuffers || owners[d] != s) continue;  // not the sender's: one buffer, two owners
      owners[d] = dest;
      scratch[kept++] = scratch[i];
    }
    if (kept) {
      ringPublish(rx[dest], scratch, kept);
      wakeEndpoint(dest);
    }
    return n;
  }

  uint32_t refill(uint32_t s) {
    uint32_t cached = alloc[s].prod->head.load(std::memory_order_relaxed) - alloc[s].cons->tail.load(std::memory_order_acquire);
    if (cached >= kCacheSize / 2) return 0;
    uint32_t k = std::min<uint32_t>(kCacheSize - cached, uint32_t(freeStack.size()));
    for (uint32_t i = 0; i < k; i++) {
      scratch[i] = freeStack.back();
      freeStack.pop_back();
      owners[scratch[i]] = s;  // the floor trusts the cache: the real manager marks it kCached
    }
    if (k) ringPublish(alloc[s], scratch, k);
    return k;
  }

  bool pollOnce() {
    uint32_t work = 0;
    for (uint32_t s = 0; s < kSlots; s++) work += drainFree(s) + route(s);
    for (uint32_t s = 0; s < kSlots; s++) work += refill(s);
    return work != 0;
  }

  bool anyInput() {
    for (uint32_t s = 0; s < kSlots; s++) {
      if (ringHasWork(tx[s]) || ringHasWork(free[s])) return true;
      uint32_t cached = alloc[s].prod->head.load(std::memory_order_relaxed) - alloc[s].cons->tail.load(std::memory_order_acquire);
      if (!freeStack.empty() && cached < kCacheSize / 2) return true;
    }
    return false;
  }

  // As Manager::sleep: the flag and each endpoint's bell as read before the flag is raised.
  void sleep(Control* c) {
    std::atomic<uint32_t>* words[1 + kSlots] = {&c->managerSleeping};
    uint32_t expected[1 + kSlots] = {1};
    for (uint32_t s = 0; s < kSlots; s++) {
      words[1 + s] = &c->managerBells[s];
      expected[1 + s] = c->managerBells[s].load(std::memory_order_acquire);
    }
    c->managerSleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the flag, then the re-check
    if (anyInput() || c->stop.load()) {
      c->managerSleeping.store(0, std::memory_order_relaxed);
      return;
    }
    futexWaitAny(words, expected, 1 + kSlots, kManagerSleepNs);
    c->managerSleeping.store(0, std::memory_order_relaxed);
  }

  void run(int cpu) {
    pinThisThread(cpu);
    Control* c = sh.control();
    uint64_t idleSince = 0;
    while (!c->stop.load(std::memory_order_relaxed)) {
      if (pollOnce()) {
        idleSince = 0;
        continue;
      }
      uint64_t now = nowNs();
      if (!idleSince) idleSince = now;
      if (now - idleSince < kManagerSpinNs) {
        sched_yield();
      } else {
        sleep(c);
        idleSince = 0;
      }
    }
    c->managerWakes = wakes;
  }
};

int cmp(const void* a, const void* b) {
  double x = *static_cast<const double*>(a), y = *static_cast<const double*>(b);
  return x < y ? -1 : x > y;
}

// Waits until the manager has filled the endpoint's cache, then says it is up.
void awaitCache(Endpoint& e, Control* c) {
  while (ringUsed(e.alloc) == 0 && !e.over()) sched_yield();
  c->ready.fetch_add(1);
  while (!c->go.load()) sched_yield();
}

[[noreturn]] void pingSide(const Shared& sh, uint32_t size, uint32_t rounds, uint64_t spinNs) {
  Control* c = sh.control();
  Endpoint e(sh, 0, spinNs);
  awaitCache(e, c);
  uint32_t d;
  while (!e.malloc(&d, 1)) sched_yield();
  uint32_t warmup = std::min(1000u, rounds / 10);
  std::vector<double> rtt(rounds), toB(rounds), back(rounds);
  for (uint32_t r = 0; r < rounds + warmup; r++) {
    uint8_t* p = sh.data(d);
    memset(p, int(r & 0xff), size);  // the sender writes its message in place, once
    sh.meta(d)->length = size;
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    e.sendAll(&d, 1);
    while (!e.rxWait(&d, 1, 1000000000ull))
      if (e.over()) _exit(1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (sh.data(d)[size - 1] != (r & 0xff)) {
      fprintf(stderr, "ring-relay: payload changed in flight\n");
      _exit(1);
    }
    if (r < warmup) continue;
    rtt[r - warmup] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    if (size >= 16) {
      uint64_t seen;
      memcpy(&seen, sh.data(d), 8);
      double sent = t0.tv_sec * 1e9 + t0.tv_nsec, got = t1.tv_sec * 1e9 + t1.tv_nsec;
      toB[r - warmup] = (double(seen) - sent) / 1e3;
      back[r - warmup] = (got - double(seen)) / 1e3;
    }
  }
  e.freeAll(&d, 1);
  c->endpointSleeps[0] = sh.endpoint(0)->counters.sleeps;
  qsort(rtt.data(), rounds, sizeof(double), cmp);
  double sum = 0;
  for (double x : rtt) sum += x;
  printf("{\"median\": %.3f, \"p99\": %.3f, \"mean\": %.3f", rtt[rounds / 2], rtt[size_t(rounds * 0.99)], sum / rounds);
  if (size >= 16) {
    qsort(toB.data(), rounds, sizeof(double), cmp);
    qsort(back.data(), rounds, sizeof(double), cmp);
    printf(", \"toB\": %.3f, \"back\": %.3f", toB[rounds / 2], back[rounds / 2]);
  }
  fflush(stdout);
  _exit(0);
}

[[noreturn]] void pongSide(const Shared& sh, uint64_t spinNs) {
  Control* c = sh.control();
  Endpoint e(sh, 1, spinNs);
  awaitCache(e, c);
  uint32_t burst[kBurst];
  volatile uint64_t seen = 0;
  while (!c->stop.load(std::memory_order_relaxed)) {
    uint32_t n = e.rxWait(burst, kBurst, 50000000);
    uint64_t seenAt = nowNs();
    for (uint32_t i = 0; i < n; i++) {
      // Read every payload byte, as an NF reads the packet it decides on.
      const uint8_t* p = sh.data(burst[i]);
      uint32_t len = std::min(sh.meta(burst[i])->length, kBufferSize - kDataOffset);
      uint64_t sum = 0;
      for (uint32_t k = 0; k + 8 <= len; k += 8) {
        uint64_t w;
        memcpy(&w, p + k, 8);
        sum += w;
      }
      seen = seen + sum + p[len - 1];
      if (len >= 16) memcpy(sh.data(burst[i]), &seenAt, 8);  // for A's legs (B's own bytes, after reading)
    }
    if (n) e.sendAll(burst, n);
  }
  c->endpointSleeps[1] = sh.endpoint(1)->counters.sleeps;
  _exit(0);
}

[[noreturn]] void blastSide(const Shared& sh, uint64_t spinNs) {
  Control* c = sh.control();
  Endpoint e(sh, 0, spinNs);
  awaitCache(e, c);
  uint32_t burst[kBurst];
  while (!c->stop.load(std::memory_order_relaxed)) {
    uint32_t n = e.malloc(burst, kBurst);
    if (!n) {
      sched_yield();  // the cache is empty: the manager (maybe on this CPU) refills it
      continue;
    }
    for (uint32_t i = 0; i < n; i++) sh.meta(burst[i])->length = 64;
    e.sendAll(burst, n);
  }
  _exit(0);
}

[[noreturn]] void drainSide(const Shared& sh, uint64_t spinNs) {
  Control* c = sh.control();
  Endpoint e(sh, 1, spinNs);
  awaitCache(e, c);
  uint32_t burst[kBurst];
  while (!c->stop.load(std::memory_order_relaxed)) {
    uint32_t n = e.rxWait(burst, kBurst, 50000000);
    if (!n) continue;
    e.freeAll(burst, n);
    c->delivered.fetch_add(n, std::memory_order_relaxed);
  }
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  bool rtt = argc >= 7 && !strcmp(argv[1], "rtt");
  bool tput = argc >= 6 && !strcmp(argv[1], "tput");
  if (!rtt && !tput) {
    fprintf(stderr, "usage: ring-relay rtt <size> <rounds> <managerCpu> <aCpu> <bCpu> [spinUs]\n"
                    "       ring-relay tput <ms> <managerCpu> <aCpu> <bCpu> [spinUs]\n");
    return 2;
  }
  int at = rtt ? 4 : 3;
  int managerCpu = atoi(argv[at]), aCpu = atoi(argv[at + 1]), bCpu = atoi(argv[at + 2]);
  uint64_t spinNs = uint64_t(argc > at + 3 ? atoi(argv[at + 3]) : 500) * 1000;
  uint32_t size = rtt ? uint32_t(atoi(argv[2])) : 64;
  if (rtt && (size < 1 || size > kBufferSize - kDataOffset)) {
    fprintf(stderr, "ring-relay: size must be 1..%u\n", kBufferSize - kDataOffset);
    return 2;
  }
  Shared sh = mapShared();
  Control* c = sh.control();
  Relay relay(sh);
  std::thread manager([&] { relay.run(managerCpu); });
  alarm(120);  // a run never outlives a stuck side: the alarm ends the parent, and with it...
  pid_t a = fork();
  if (a == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // ...each child, whenever the parent ends
    pinThisThread(aCpu);
    if (rtt) pingSide(sh, size, uint32_t(atoi(argv[3])), spinNs);
    blastSide(sh, spinNs);
  }
  pid_t b = fork();
  if (b == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pinThisThread(bCpu);
    if (rtt) pongSide(sh, spinNs);
    drainSide(sh, spinNs);
  }
  while (c->ready.load() < 2) usleep(100);
  c->go.store(1);
  int status = 0;
  if (rtt) {
    waitpid(a, &status, 0);
    c->stop.store(1);
  } else {
    uint32_t ms = uint32_t(atoi(argv[2]));
    usleep(ms / 5 * 1000);  // warm-up, then the middle of the run
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t before = c->delivered.load();
    usleep(ms * 3 / 5 * 1000);
    uint64_t after = c->delivered.load();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    c->stop.store(1);
    double seconds = double(t1.tv_sec - t0.tv_sec) + double(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"mdps\": %.3f", double(after - before) / seconds / 1e6);
  }
  // Whoever sleeps on a futex wakes within its timeout and sees stop; wake them now anyway.
  for (uint32_t s = 0; s < kSlots; s++) {
    sh.manager(s)->wakeSeq.fetch_add(1);
    futexWake(&sh.manager(s)->wakeSeq);
  }
  futexWake(&c->managerSleeping);
  int other = 0;
  waitpid(rtt ? b : a, &other, 0);
  if (!rtt) waitpid(b, &status, 0);
  manager.join();
  printf(", \"sleeps\": [%llu, %llu], \"managerWakes\": %llu}\n", (unsigned long long)c->endpointSleeps[0],
         (unsigned long long)c->endpointSleeps[1], (unsigned long long)c->managerWakes);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && WIFEXITED(other) && WEXITSTATUS(other) == 0 ? 0 : 1;
}
