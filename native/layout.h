// The region layout: the one declaration of every structure in /dev/shm/xio.<prefix>.
//
// C++ uses these structs directly; TypeScript gets every offset from the addon's `layout`
// export (built from offsetof below), so the two can never disagree. Bump kLayoutVersion on
// any change: a process of another version refuses to attach instead of misreading memory.
//
// Ownership rule (X-IO §III-B): every ring has one producer and one consumer; every field is
// written by one party only, named in its comment. Observers (the dashboard) only read.
//
// Trust boundary: the region is cut into page-aligned parts by who may write them. An
// endpoint maps the header, the services, every manager side and every other endpoint's side
// read-only; only the doorbell page, its own endpoint side and the packet buffers are
// writable in its mapping. The manager trusts nothing an endpoint can write: it keeps the
// geometry, the pool's free stack and buffer ownership in its own memory, and bounds-checks
// every index, descriptor, length and action it reads from endpoint-writable memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace xio {

constexpr uint64_t kMagic = 0x4e49414843'4f4958ULL;  // "XIOCHAIN" in memory order
constexpr uint32_t kLayoutVersion = 20;
constexpr uint32_t kMaxSlots = 64;
constexpr uint32_t kMaxServices = 64;
constexpr uint32_t kMaxBuffers = 65534;
constexpr uint32_t kMaxGates = 8;
constexpr uint32_t kNameLength = 32;
constexpr uint32_t kMetaSize = 64;
constexpr uint32_t kCacheLine = 64;
constexpr uint32_t kPage = 4096;
constexpr uint32_t kNfCounters = 128;
constexpr uint32_t kCounterName = 80;  // COUNTER_NAME_BYTES (nf-types.ts) behind a group member's @<endpoint>/
constexpr uint32_t kChainFileLength = 1024;
constexpr uint16_t kNoService = 0xffff;
// EndpointSide::service of a capture endpoint: not a service of the chain (nothing routes to
// it), it receives copies of what its taps see (CaptureTaps).
constexpr uint16_t kCaptureService = 0xfffe;
// A route held shut for a moment (a reload that must not let new packets overtake older ones
// still on the old path): the sender's packets wait in the manager, in order, as for a full
// receiver, until the route leads somewhere again.
constexpr uint16_t kPausedRoute = 0xfffd;
// EndpointSide::instance of an endpoint that asks for no particular number: the manager gives
// it the lowest its live fellow instances leave free. ManagerSide::instance until it has.
constexpr uint16_t kUnnumbered = 0xffff;
static_assert(kMaxServices <= 64, "a service set is a 64-bit mask (EndpointSide::alsoServes)");
static_assert(kMaxGates <= 0xff && kMaxServices <= 0xffff, "kActionGateOf packs a service and a gate into 24 bits");
constexpr uint32_t kMaxTaps = 16;
// Captures (and traces) attached to one chain at once: the manager serves these, the first to
// come, and a fifth is refused at attach, so captures never take the slots NF restarts need.
constexpr uint32_t kMaxCaptures = 4;

// Bytes from one buffer to the next: bufferSize padded to an odd number of cache lines. With a
// power-of-two stride (2 KiB = 32 lines) every buffer's metadata line, and every packet's
// first line, falls in the same 1/32 of a set-associative cache's sets: on this project's
// machines (1 MiB 8-way L2) the lines of at most 512 buffers fit, where rings in flight hold
// thousands. An odd stride walks every set (DPDK's mempool pads its objects for the same
// reason, there for memory channels). The packet bytes a buffer holds stay bufferSize's.
constexpr uint32_t bufferStrideOf(uint32_t bufferSize) {
  return (bufferSize / kCacheLine) % 2 ? bufferSize : bufferSize + kCacheLine;
}

// Byte-range (OFD) locks on the region file, not bytes of its contents: the manager holds
// kManagerLease for its life, an endpoint holds kSlotLeaseBase + slot while it holds the slot.
// The kernel drops a lock when its holder dies, whatever pid namespace it runs in.
constexpr uint64_t kManagerLease = 0;
constexpr uint64_t kSlotLeaseBase = 1;

// A ring entry: a descriptor, one u64 that carries beside the buffer's index everything the
// manager routes by, so that routing never touches packet memory (a cache miss per packet at
// scale, on a line the sender's CPU just wrote). The sending endpoint packs it from the
// buffer's metadata as it transmits; the manager packs what the receiver needs (who sent it,
// which of its services it is for) into the RX entry, and the receiving endpoint writes that
// into the metadata as it takes it. Bits:
//   0-15   buffer index (kNoIndex: none the pool has, so the manager refuses it)
//   16-31  length: packet bytes, saturated at 0xffff (more than any buffer holds)
//   32-47  TX: the flow hash folded to 16 bits; RX: the service that sent it (Meta::prev)
//   48-62  action, packed (packAction)
//   63     kEntryMark: not a descriptor but a mark, its low 32 bits as below
// Alloc entries carry the index only.
using Entry = uint64_t;
constexpr Entry kEntryMark = 1ull << 63;
constexpr uint32_t kNoIndex = 0xffff;
static_assert(kMaxBuffers < kNoIndex, "buffer indices fit an entry's 16 bits, kNoIndex apart");
inline constexpr uint32_t entryIndex(Entry e) { return uint32_t(e) & 0xffff; }
inline constexpr uint32_t entryLength(Entry e) { return uint32_t(e) >> 16; }
inline constexpr uint32_t entryWord(Entry e) { return uint32_t(e >> 32) & 0xffff; }  // TX: flow hash; RX: sender
inline constexpr uint32_t entryAction(Entry e) { return uint32_t(e >> 48) & 0x7fff; }
inline constexpr Entry makeEntry(uint32_t index, uint32_t length, uint32_t word, uint32_t packedAction) {
  return Entry(index & 0xffff) | Entry(length > 0xffff ? 0xffff : length) << 16 | Entry(word & 0xffff) << 32 |
         Entry(packedAction & 0x7fff) << 48;
}
inline constexpr uint32_t foldHash(uint32_t hash) { return (hash ^ hash >> 16) & 0xffff; }

// A mark, the low 32 bits of an entry with kEntryMark set: one of the endpoint's ring tails (30
// bits) when it published what follows: its alloc-ring tail, or with kMarkRx its RX-ring tail.
// It tells the manager which buffers of its cache, and which delivered to it, the endpoint had
// taken by then, so a descriptor sent or freed before the endpoint took it (a stale one, back
// in its cache or RX ring) is refused.
constexpr uint32_t kMark = 0x80000000u;
constexpr uint32_t kMarkRx = 0x40000000u;
constexpr uint32_t kMarkValue = 0x3fffffffu;

// A descriptor's action, in its metadata: kind in the top byte, argument below.
// kActionLost appears only on a trace copy: the packet had nowhere to go (no route) and was freed.
// kActionGateOf is a gate of one of the services an endpoint serves (a placement group: several
// NFs run to completion in one process), the service in bits 8-23 and the gate below; on
// delivery to such an endpoint, its RX entry names so the service the packet is for.
// kActionInvalid: an action with an argument out of range, as packed (no route).
// ToInstance: to one instance of a service the sender serves itself (its own, or a group
// member's), by its number: a handoff between instances (a NAT's, to the one that holds a
// session), where the flow hash would pick any. The argument is the service << 6 | a tag bit
// << 5 | the number; the receiver gets the action as it was sent (not a gate's), so it knows
// the packet was handed over, and with which tag (a NAT's: inbound or outbound).
enum ActionKind : uint32_t { kActionGate = 0, kActionTo = 1, kActionDrop = 2, kActionLost = 3, kActionGateOf = 4, kActionToInstance = 5, kActionInvalid = 7 };
constexpr uint32_t kMaxInstanceNumber = 31;  // what a ToInstance action can name
constexpr uint32_t kHandoffTag = 1u << 5;    // in a ToInstance argument
inline constexpr uint32_t action(ActionKind kind, uint32_t arg) { return (uint32_t(kind) << 24) | (arg & 0xffffff); }

// A drop's argument: bit 0, the packet ended where it was meant to (ARP a router learnt from),
// freed and counted apart (RouteCounters::consumed), not as a loss; above it (kDropAsShift),
// 1 + the service that decided so, when it is another the sender serves (a placement group's
// member), for a trace to name it; 0 for the sender's own.
constexpr uint32_t kDropConsumed = 1;
constexpr uint32_t kDropAsShift = 1;

// An action packed into an entry's 15 bits: the kind in bits 12-14, the argument below, with
// room for every argument in range (a gate, a service, a group's service and gate, a lost
// packet's gate up to kMaxGates).
inline constexpr uint32_t packAction(uint32_t act) {
  uint32_t kind = act >> 24, arg = act & 0xffffff;
  bool valid = (kind == kActionGate && arg < kMaxGates) || (kind == kActionTo && arg < kMaxServices) ||
               kind == kActionDrop || (kind == kActionLost && arg <= kMaxGates) ||
               (kind == kActionGateOf && (arg >> 8) < kMaxServices && (arg & 0xff) < kMaxGates) ||
               (kind == kActionToInstance && (arg >> 6) < kMaxServices && (arg & 0x1f) <= kMaxInstanceNumber);
  if (!valid) return kActionInvalid << 12;
  if (kind == kActionDrop) return kind << 12 | ((arg >> kDropAsShift) <= kMaxServices ? arg : arg & kDropConsumed);
  return kind << 12 | (kind == kActionGateOf ? (arg >> 8) << 3 | (arg & 0xff) : arg);
}
inline constexpr uint32_t unpackAction(uint32_t packed) {
  uint32_t kind = packed >> 12 & 7, arg = packed & 0xfff;
  return action(ActionKind(kind), kind == kActionGateOf ? (arg >> 3) << 8 | (arg & 7) : arg);
}
static_assert(kMaxServices <= 64 && kMaxGates <= 8, "packAction gives a group's service 6 bits and its gate 3");
static_assert(unpackAction(packAction(action(kActionGateOf, 63 << 8 | 7))) == action(kActionGateOf, 63 << 8 | 7));
static_assert(unpackAction(packAction(action(kActionTo, kMaxServices))) == action(kActionInvalid, 0));
static_assert(unpackAction(packAction(action(kActionToInstance, 63 << 6 | 63))) == action(kActionToInstance, 63 << 6 | 63));
static_assert(unpackAction(packAction(action(kActionDrop, kMaxServices << kDropAsShift | kDropConsumed))) == action(kActionDrop, kMaxServices << kDropAsShift | kDropConsumed));

// A capture endpoint's tap, one u32 (so it is read whole): the service in bits 0-15, a gate in
// 16-23, the kind in 24-31. Rx: every packet delivered to the service (any instance). Gate:
// every packet an instance of it sends through that gate to a live route (what its link
// carries). Tx: every packet it sends on, whatever the gate or named destination.
// Trace: the service bits are a count, not a service: follow the next that many packets that
// enter the chain (sent by the endpoint that brought them in), with a copy at every hop.
enum TapKind : uint32_t { kTapNone = 0, kTapRx = 1, kTapGate = 2, kTapTx = 3, kTapTrace = 4 };
inline constexpr uint32_t tapWord(uint32_t service, TapKind kind, uint32_t gate) {
  return (service & 0xffff) | (gate & 0xff) << 16 | uint32_t(kind) << 24;
}

enum RegionState : uint32_t { kRegionInit = 0, kRegionReady = 1, kRegionStopped = 2 };
// A slot as the manager sees it (ManagerSide::state).
// Faulted: the endpoint broke the ring protocol (an index no correct peer could write), so the
// manager took back its buffers and serves it no more; the slot frees when its process lets go.
// kSlotWaiting: claimed for an instance number a live instance of its services has; taken on
// once that one goes, while the claimer waits (awaitService), which gives up with INSTANCE_TAKEN.
enum SlotState : uint32_t { kSlotFree = 0, kSlotActive = 2, kSlotDetaching = 3, kSlotFaulted = 4, kSlotWaiting = 5 };
// What the endpoint says of its claim (EndpointSide::claim).
enum ClaimState : uint32_t { kClaimNone = 0, kClaimActive = 1, kClaimDetaching = 2 };

// Per-buffer metadata, the first 64 bytes of every pool buffer, written by the buffer's owner.
// The manager routes by the TX entry (packed from length, action and flowHash as the owner
// transmits) and never reads or writes this on the routing path; `prev` and `action` are what
// the receiver's RX entry says, written by the receiving endpoint as it takes the buffer.
struct Meta {
  uint32_t length;     // packet bytes after the headroom
  uint16_t inPort;     // service that brought the packet into the chain
  uint16_t prev;       // service that sent it last (from the RX entry)
  uint32_t action;     // what the owner wants done with it, see ActionKind
  uint32_t flowHash;   // picks the instance among several of one service (folded to 16 bits)
  uint64_t timestamp;  // ns, capture or creation time; a capture copy: CLOCK_REALTIME when copied
  uint32_t tap;        // a capture copy: the index of the tap that made it in its endpoint's list (manager)
  // A packet followed by a trace: nonzero, (tracer slot + 1) << 24 | its number, set by the
  // manager as it enters the chain, cleared by malloc. Its copies carry it too.
  uint32_t trace;
  // A traced packet: why the last NF did what it did (ASCII, NUL-padded), written by its
  // runner and carried into the copy. Otherwise free for NFs and ports.
  uint32_t user[8];
};
static_assert(sizeof(Meta) == kMetaSize);

// The two sides of an SPSC ring of entries (Entry: descriptors and marks), each on its own cache line and in the
// part of the slot its writer owns. Each side caches the other side's index, so it reads the
// remote line only when the ring looks full (or empty). The entries live with the producer.
struct alignas(kCacheLine) RingProducer {
  std::atomic<uint32_t> head;  // next index to write
  uint32_t cachedTail;         // the producer's last view of tail
  uint64_t enqueued;           // descriptors accepted
  uint64_t refused;            // descriptors refused because the ring was full
  uint64_t bursts;             // enqueue calls that moved at least one descriptor
};
struct alignas(kCacheLine) RingConsumer {
  std::atomic<uint32_t> tail;  // next index to read
  uint32_t cachedHead;
  uint64_t dequeued;
  uint64_t bursts;
};

// Counters an endpoint writes about itself (bursts and refusals are on its rings).
struct alignas(kCacheLine) EndpointCounters {
  uint64_t mallocFails;  // buffers asked for and not given (pool dry)
  uint64_t sleeps;       // times it slept on its wake word
  uint64_t wakesSent;    // times it woke the manager
  // Packets its NFs decided (the NF runner counts each as its verdict comes): the progress the
  // launcher's watchdog looks for, packet by packet, so a slow NF is never taken for a hung one.
  uint64_t decided;
};

// Counters the manager writes about an endpoint.
struct alignas(kCacheLine) RouteCounters {
  uint64_t rxPackets;  // delivered into its RX ring
  uint64_t rxBytes;
  uint64_t txPackets;  // sent on: taken from its TX ring to a live route (drops, no-route, refusals apart)
  uint64_t txBytes;
  uint64_t dropped;    // it asked for a drop
  uint64_t noRoute;    // sent through a gate or to a service with no live endpoint
  uint64_t freed;      // buffers it gave back through its free ring
  uint64_t wakes;      // times the manager woke it
  uint64_t reclaimed;  // buffers taken back when it died or detached
  uint64_t lost;       // of those, packets: sent and held for a full receiver, in its RX ring, or in its hands
  uint64_t invalid;    // descriptors it sent or freed that were not its own, or over-long
  uint64_t captured;     // a capture endpoint: copies put in its RX ring
  uint64_t captureLost;  // a capture endpoint: copies its taps called for and it did not get
                         // (its RX ring full, too many copies in its hands, or the pool low)
  uint64_t consumed;     // it asked for a drop of a packet that ended there (kDropConsumed): no loss
};

// An NF's own counters (rule hits, NAT mappings...), published by the endpoint about twice a
// second for the dashboard: names and values, both written by the endpoint only.
struct NfCounters {
  std::atomic<uint32_t> count;
  uint32_t updates;
  char names[kNfCounters][kCounterName];
  double values[kNfCounters];
};

// What a capture endpoint asks to see: written by the endpoint only, read by the manager as
// untrusted input (count clamped, every tap checked) whenever the doorbell's claims counter
// moves. The endpoint writes the taps, then bumps seq (release), then rings the doorbell.
struct CaptureTaps {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> count;
  std::atomic<uint32_t> taps[kMaxTaps];  // tapWord
};

// The part of a slot its endpoint writes (read-only to every other endpoint). The entries of
// its TX and free rings follow at Geometry::endpointEntries.
struct EndpointSide {
  std::atomic<uint32_t> claim;  // ClaimState, written once the slot's lease is held
  uint32_t pid;                 // as the endpoint sees itself (for people; never trusted)
  uint16_t service;             // read once by the manager, when it takes the slot on
  uint16_t instance;            // which instance it asks to be (kUnnumbered: any), read with service
  uint32_t generation;          // bumped on every claim, so observers notice a restart
  uint32_t pad;
  // Services it serves besides `service` (bit i: service i), as a placement group's process
  // serves each of its NFs; read once by the manager with `service`, and only declared ones kept.
  uint64_t alsoServes;
  char name[kNameLength];
  EndpointCounters counters;
  alignas(kCacheLine) std::atomic<uint32_t> sleepRequests;  // bumped before every sleep on RX
  std::atomic<uint32_t> asleep;                             // threads asleep now (for observers)
  // Bumped with each wake of the manager (Header::managerSleeping set: ringIfSleeping). The
  // manager sleeps on every slot's bell, each as it read it before setting its flag, so a wake
  // that comes before its wait begins finds the word changed and is never lost; and each
  // endpoint rings its own, which no other can write back to hide a wake.
  std::atomic<uint32_t> managerBell;
  RingConsumer rx;
  RingConsumer alloc;
  RingProducer tx;
  RingProducer free;
  alignas(kCacheLine) CaptureTaps taps;  // a capture endpoint's only
  alignas(kCacheLine) NfCounters nf;
};

// The part of a slot the manager writes (read-only to endpoints). The entries of the RX and
// alloc rings follow at Geometry::managerEntries. Its ring lines and entries sit at other
// offsets within a page than the endpoint side's, so the manager's stores to one never alias
// (4 KiB aliasing) its loads from the other.
struct ManagerSide {
  std::atomic<uint32_t> state;  // SlotState
  uint16_t service;             // the manager's copy, as it serves the slot
  uint16_t instance;            // the instance number it serves the slot as (kUnnumbered: none yet)
  // A capture endpoint: the CaptureTaps::seq the manager last read, and how many of its taps
  // it found valid and applies (release: the endpoint waits for its seq, then reads counters).
  std::atomic<uint32_t> tapsSeen;
  uint32_t tapsActive;
  // Set while the manager holds packets for this slot because its RX ring was full: the
  // endpoint, taking from that ring, wakes the manager rather than let it wait out its retry.
  std::atomic<uint32_t> roomWanted;
  // Set while the manager refills its cache no further because it has its share: malloc then
  // does not wait for a refill that will not come.
  std::atomic<uint32_t> atShare;
  alignas(1024) RingProducer rx;
  RingProducer alloc;
  RingConsumer tx;
  RingConsumer free;
  RouteCounters route;
  // Buffers in its hands, its cache and its RX ring (a capture endpoint: copies), as the
  // manager counts them, for observers; at most its share of the pool (Manager::share_).
  // Beside the counters the manager writes with it, off the lines the endpoint reads per burst.
  uint32_t buffers;
  alignas(kCacheLine) std::atomic<uint32_t> wakeSeq;  // futex word: bumped to wake the endpoint
};
enum SlotRing : uint32_t { kRingRx = 0, kRingTx = 1, kRingAlloc = 2, kRingFree = 3, kRingsPerSlot = 4 };

// A service is an endpoint name; its instances share its routes. Manager-written.
struct Service {
  std::atomic<uint32_t> declared;
  uint32_t instances;  // live instances
  uint64_t deaths;     // instances that died without detaching
  uint16_t routes[kMaxGates];  // gate → service (kNoService: none)
  char name[kNameLength];
  // What its past instances counted, added as each one's slot is taken by another endpoint: with
  // the counters of the slots it holds or held last, the endpoint's totals across restarts.
  RouteCounters left;
};

struct alignas(kCacheLine) ManagerCounters {
  uint64_t loops;
  uint64_t busyLoops;   // loops that found work
  uint64_t assistedLoops;  // of the loops, passes made by a thread of its process waiting on its CPU (assist)
  uint64_t routed;
  uint64_t dropped;     // asked for by an endpoint, or in flight when the manager stopped
  uint64_t consumed;    // freed as consumed (a drop's kDropConsumed): ended where meant to, no loss
  uint64_t noRoute;
  uint64_t sleeps;
  uint64_t wakeups;     // sleeps ended by a producer rather than the timeout
  uint64_t reclaimed;   // buffers taken back from dead or detached endpoints
  uint64_t lost;        // of those, packets (RouteCounters::lost)
  uint64_t deaths;
  uint64_t poolDry;     // refills that found the pool empty
  uint64_t held;        // descriptors held back because a destination RX ring was full
  uint64_t invalid;     // descriptors an endpoint sent or freed that were not its own
  uint64_t oversize;    // descriptors sent with a length beyond their buffer
  uint64_t faults;      // endpoints cut off for breaking the ring protocol
  uint64_t captured;    // copies made for capture endpoints
  uint64_t captureLost; // copies taps called for and not made or not delivered
  uint64_t taps;        // taps in force now (a gauge): 0 when no capture is attached
};

// Written by the creator and the manager only (read-only to endpoints).
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
  uint32_t managerSideOffset;  // from a slot's start to its ManagerSide
  uint32_t endpointEntries;    // from an EndpointSide to its TX entries (free entries follow)
  uint32_t managerEntries;     // from a ManagerSide to its RX entries (alloc entries follow)
  uint32_t bufferStride;       // from one buffer to the next: bufferSize padded (bufferStrideOf)
  uint64_t doorbellOffset;
  uint64_t servicesOffset;
  uint64_t slotsOffset;
  uint64_t buffersOffset;
  std::atomic<uint32_t> state;  // RegionState
  uint32_t managerPid;  // for people: liveness is the manager lease, never this pid
  uint32_t managerTid;
  uint32_t epoch;
  std::atomic<uint32_t> poolFree;  // buffers on the pool's free stack, published by the manager
  uint32_t endpointShare;  // the most buffers one endpoint may have (Manager::share_), for observers
  // Odd while the manager moves a slot's last occupant's counts into its service's totals
  // (Service::left), or resets a slot's rings: a seqlock for observers, who would otherwise
  // count them twice or not at all, or see a ring full for the instant of its reset.
  std::atomic<uint32_t> countsMoving;
  // The manager's sleeping flag: 1 while it sleeps (or is about to). Endpoints read it to know
  // whether to wake it, then ring their own bell (EndpointSide::managerBell); only the manager's
  // process writes it (clearing it wakes the manager too, as stop and routes do), since a flag
  // endpoints could write would let one of them (storing 0 over and over) make every other's
  // wake look needless, so the manager would sleep out its timeouts.
  // A line of its own: endpoints read it on every burst, the manager's counters move per pass.
  alignas(kCacheLine) std::atomic<uint32_t> managerSleeping;
  alignas(kCacheLine) ManagerCounters manager;
  // The chain spec the region runs (absolute path, may be empty), so an observer (`top`) can
  // name gates and rules as `run` does: the one it was made for, then each reload's. A seqlock:
  // odd while a reload's path is written (Region::recordChainFile), bumped again after, so an
  // observer reads a whole path and sees that it changed.
  std::atomic<uint32_t> chainFileVersion;
  char chainFile[kChainFileLength];
};
static_assert(sizeof(Header) <= kPage);

// The one page every endpoint may write: how it tells the manager its slot claim, detach or taps
// changed (the manager then looks at every slot; the lease scan would find them anyway).
struct Doorbell {
  std::atomic<uint32_t> claims;  // bumped on every claim, detach and change of taps
};
static_assert(sizeof(Doorbell) <= kPage);

}  // namespace xio
