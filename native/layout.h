// The region layout: the one declaration of every structure in /dev/shm/xio.<prefix>.
//
// C++ uses these structs directly; TypeScript gets every offset from the addon's `layout`
// export (built from offsetof below), so the two can never disagree. Bump kLayoutVersion on
// any change: a process of another version refuses to attach instead of misreading memory.
//
// Ownership rule (X-IO §III-B): every ring has one producer and one consumer; every field is
// written by one party only, named in its comment. Observers (the dashboard) only read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace xio {

constexpr uint64_t kMagic = 0x4e49414843'4f4958ULL;  // "XIOCHAIN" in memory order
constexpr uint32_t kLayoutVersion = 1;
constexpr uint32_t kMaxSlots = 64;
constexpr uint32_t kMaxServices = 64;
constexpr uint32_t kMaxGates = 8;
constexpr uint32_t kNameLength = 32;
constexpr uint32_t kMetaSize = 64;
constexpr uint32_t kCacheLine = 64;
constexpr uint32_t kNfCounters = 128;
constexpr uint32_t kCounterName = 24;
constexpr uint16_t kNoService = 0xffff;
constexpr uint16_t kOwnerPool = 0xffff;
constexpr uint16_t kOwnerManager = 0xfffe;  // taken from a TX ring, not yet delivered

// A descriptor's action, in its metadata: kind in the top byte, argument below.
enum ActionKind : uint32_t { kActionGate = 0, kActionTo = 1, kActionDrop = 2 };
inline constexpr uint32_t action(ActionKind kind, uint32_t arg) { return (uint32_t(kind) << 24) | (arg & 0xffffff); }

enum RegionState : uint32_t { kRegionInit = 0, kRegionReady = 1, kRegionStopped = 2 };
enum SlotState : uint32_t { kSlotFree = 0, kSlotClaiming = 1, kSlotActive = 2, kSlotDetaching = 3 };

// Per-buffer metadata, the first 64 bytes of every pool buffer. Written by the buffer's owner,
// except `prev` and `action`, which the manager sets as it hands the buffer on.
struct Meta {
  uint32_t length;     // packet bytes after the headroom
  uint16_t inPort;     // service that brought the packet into the chain
  uint16_t prev;       // service that sent it last (manager)
  uint32_t action;     // what the owner wants done with it, see ActionKind
  uint32_t flowHash;   // picks the instance among several of one service
  uint64_t timestamp;  // ns, capture or creation time
  uint32_t user[10];   // free for NFs and ports
};
static_assert(sizeof(Meta) == kMetaSize);

// An SPSC ring of u32 buffer indices. Producer and consumer indices live on separate cache
// lines (no false sharing); each side keeps a cached copy of the other side's index so it
// reads the remote line only when the ring looks full (or empty).
struct alignas(kCacheLine) RingProducer {
  std::atomic<uint32_t> head;  // next index to write (producer)
  uint32_t cachedTail;         // producer's last view of tail
  uint64_t enqueued;           // descriptors accepted
  uint64_t refused;            // descriptors refused because the ring was full
  uint64_t bursts;             // enqueue calls that moved at least one descriptor
};
struct alignas(kCacheLine) RingConsumer {
  std::atomic<uint32_t> tail;  // next index to read (consumer)
  uint32_t cachedHead;
  uint64_t dequeued;
  uint64_t bursts;
};
struct alignas(kCacheLine) Ring {
  RingProducer prod;
  RingConsumer cons;
  uint32_t size;  // power of two; fixed at creation
  uint32_t mask;
  alignas(kCacheLine) uint32_t entries[];  // size entries follow
};
static_assert(offsetof(Ring, entries) == 3 * kCacheLine);

// Counters an endpoint writes about itself.
// (Bursts and refusals are on its rings.)
struct alignas(kCacheLine) EndpointCounters {
  uint64_t mallocFails;  // buffers asked for and not given (pool dry)
  uint64_t sleeps;       // times it slept on its futex word
  uint64_t wakesSent;    // times it woke the manager
};

// Counters the manager writes about an endpoint.
struct alignas(kCacheLine) RouteCounters {
  uint64_t rxPackets;  // delivered into its RX ring
  uint64_t rxBytes;
  uint64_t txPackets;  // taken from its TX ring
  uint64_t txBytes;
  uint64_t dropped;    // it asked for a drop
  uint64_t noRoute;    // sent through a gate or to a service with no live endpoint
  uint64_t freed;      // buffers it gave back through its free ring
  uint64_t wakes;      // times the manager woke it
  uint64_t reclaimed;  // buffers taken back when it died or detached
};

// An NF's own counters (rule hits, NAT mappings...), published by the endpoint about twice a
// second for the dashboard: names and values, both written by the endpoint only.
struct NfCounters {
  std::atomic<uint32_t> count;
  uint32_t updates;
  char names[kNfCounters][kCounterName];
  double values[kNfCounters];
};

// One endpoint (NF instance or port): identity, counters, wake-up word, then its four rings
// at ringsOffset + n * ringStride: RX (manager → endpoint), TX (endpoint → manager), alloc
// (manager → endpoint, its buffer cache), free (endpoint → manager).
struct Slot {
  std::atomic<uint32_t> state;  // SlotState; claimed by the endpoint, freed by the manager
  uint32_t pid;
  uint64_t startTime;  // /proc/<pid>/stat starttime, so a reused pid is not mistaken for it
  uint16_t service;
  uint16_t instance;
  uint32_t generation;  // bumped on every claim, so observers notice a restart
  char name[kNameLength];
  EndpointCounters endpoint;
  RouteCounters route;
  alignas(kCacheLine) std::atomic<uint32_t> sleeping;  // futex word: 1 while it sleeps on RX
  alignas(kCacheLine) NfCounters nf;
};
enum SlotRing : uint32_t { kRingRx = 0, kRingTx = 1, kRingAlloc = 2, kRingFree = 3, kRingsPerSlot = 4 };

// A service is an endpoint name; its instances share its routes.
struct Service {
  std::atomic<uint32_t> declared;
  uint32_t instances;  // live instances (manager)
  uint64_t deaths;     // instances that died without detaching (manager)
  uint16_t routes[kMaxGates];  // gate → service (kNoService: none)
  char name[kNameLength];
};

struct alignas(kCacheLine) ManagerCounters {
  uint64_t loops;
  uint64_t busyLoops;   // loops that found work
  uint64_t routed;
  uint64_t dropped;
  uint64_t noRoute;
  uint64_t sleeps;
  uint64_t wakeups;     // sleeps ended by a producer rather than the timeout
  uint64_t reclaimed;   // buffers taken back from dead or detached endpoints
  uint64_t deaths;
  uint64_t poolDry;     // refills that found the pool empty
  uint64_t held;        // descriptors held back because a destination RX ring was full
  uint64_t invalid;     // descriptors an endpoint sent or freed that were not its own
};

struct Header {
  uint64_t magic;  // written last at creation, so a half-built region never looks valid
  uint32_t version;
  uint32_t headerSize;
  uint64_t regionSize;
  uint32_t slotCount;
  uint32_t serviceCount;
  uint32_t ringSize;
  uint32_t cacheSize;   // buffers the manager keeps in each alloc ring
  uint32_t bufferCount;
  uint32_t bufferSize;
  uint32_t dataOffset;  // from a buffer's start to its packet bytes (metadata + headroom)
  uint32_t slotStride;
  uint32_t ringStride;
  uint32_t pad0;
  uint64_t servicesOffset;
  uint64_t slotsOffset;
  uint64_t ringsOffset;
  uint64_t ownersOffset;  // u16 per buffer: slot that owns it, kOwnerManager or kOwnerPool (manager)
  uint64_t poolOffset;    // the pool's free stack: u32 count, then u32 indices (manager)
  uint64_t buffersOffset;
  std::atomic<uint32_t> state;  // RegionState
  uint32_t managerPid;
  uint64_t managerStartTime;
  uint32_t managerTid;
  uint32_t epoch;
  std::atomic<uint32_t> slotsGeneration;  // bumped on every claim and detach
  std::atomic<uint32_t> poolFree;         // buffers on the free stack (manager)
  ManagerCounters manager;
  alignas(kCacheLine) std::atomic<uint32_t> managerSleeping;  // futex word
};
static_assert(sizeof(Header) <= 4096);

}  // namespace xio
