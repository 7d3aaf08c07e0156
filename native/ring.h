// Burst enqueue and dequeue on a single-producer/single-consumer ring (see RingProducer and
// RingConsumer in layout.h).
//
// Indices run freely over u32 and are masked on access, so used = head - tail even across
// wrap-around. The producer publishes entries with a release store of head; the consumer
// reads head with acquire, so it never sees an index before the entry behind it.
//
// Size and mask come from the caller's own geometry, never from shared memory, and the other
// side's index is clamped before use: a producer or consumer that writes nonsense into its own
// index can only lose its own descriptors, never make the other side index out of the ring.
#pragma once

#include "layout.h"

namespace xio {

struct RingRef {
  RingProducer* prod = nullptr;
  RingConsumer* cons = nullptr;
  Entry* entries = nullptr;
  uint32_t size = 0;  // power of two
  uint32_t mask = 0;
};

// Entries between the consumer and the producer, at most size (for observers and refills).
inline uint32_t ringUsed(const RingRef& r) {
  uint32_t used = r.prod->head.load(std::memory_order_acquire) - r.cons->tail.load(std::memory_order_acquire);
  return used > r.size ? r.size : used;
}

// Room the producer may fill now, reading the consumer's line only when the cached view says
// full. A tail that is not behind head by at most size (no correct consumer writes one) means
// no room, and sets *overrun.
inline uint32_t ringRoom(const RingRef& r, uint32_t wanted, bool* overrun = nullptr) {
  uint32_t head = r.prod->head.load(std::memory_order_relaxed);
  uint32_t used = head - r.prod->cachedTail;
  if (used > r.size || r.size - used < wanted) {
    r.prod->cachedTail = r.cons->tail.load(std::memory_order_acquire);
    used = head - r.prod->cachedTail;
  }
  if (used > r.size) {
    if (overrun) *overrun = true;
    return 0;
  }
  return r.size - used;
}

// Copies n entries that the caller has made room for (ringRoom) and publishes them.
inline void ringPublish(const RingRef& r, const Entry* src, uint32_t n) {
  uint32_t head = r.prod->head.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) r.entries[(head + i) & r.mask] = src[i];
  r.prod->head.store(head + n, std::memory_order_release);
  r.prod->enqueued += n;
  r.prod->bursts++;
}

// Publishes marks then n entries, entry i being make(i) (room for both made by the caller);
// marks are not counted as enqueued.
template <class Make>
inline void ringPublishMarked(const RingRef& r, const Entry* marks, uint32_t m, uint32_t n, Make&& make) {
  uint32_t head = r.prod->head.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < m; i++) r.entries[(head + i) & r.mask] = marks[i];
  for (uint32_t i = 0; i < n; i++) r.entries[(head + m + i) & r.mask] = make(i);
  r.prod->head.store(head + m + n, std::memory_order_release);
  r.prod->enqueued += n;
  r.prod->bursts++;
}

// Writes one entry `staged` places past head without publishing it; the caller has made room
// for staged + 1 (ringRoom) and publishes all it staged at once with ringCommit. The consumer
// reads head with acquire, so it sees none of them before the commit and all of them after.
inline void ringStage(const RingRef& r, uint32_t staged, Entry entry) {
  uint32_t head = r.prod->head.load(std::memory_order_relaxed);
  r.entries[(head + staged) & r.mask] = entry;
}

inline void ringCommit(const RingRef& r, uint32_t n) {
  uint32_t head = r.prod->head.load(std::memory_order_relaxed);
  r.prod->head.store(head + n, std::memory_order_release);
  r.prod->enqueued += n;
  r.prod->bursts++;
}

// Takes up to max entries, handing each to each(i, entry) in order, then publishes the new
// tail. A head more than size ahead of tail (no correct producer writes one) takes nothing and
// sets *overrun.
template <class Each>
inline uint32_t ringConsume(const RingRef& r, uint32_t max, Each&& each, bool* overrun = nullptr) {
  uint32_t tail = r.cons->tail.load(std::memory_order_relaxed);
  uint32_t avail = r.cons->cachedHead - tail;
  if (avail < max || avail > r.size) {
    r.cons->cachedHead = r.prod->head.load(std::memory_order_acquire);
    avail = r.cons->cachedHead - tail;
  }
  if (avail > r.size) {
    if (overrun) *overrun = true;
    return 0;
  }
  uint32_t k = avail < max ? avail : max;
  if (!k) return 0;
  for (uint32_t i = 0; i < k; i++) each(i, r.entries[(tail + i) & r.mask]);
  r.cons->tail.store(tail + k, std::memory_order_release);
  r.cons->dequeued += k;
  r.cons->bursts++;
  return k;
}

// Dequeues up to max entries into dst (see ringConsume).
inline uint32_t ringDequeue(const RingRef& r, Entry* dst, uint32_t max, bool* overrun = nullptr) {
  return ringConsume(r, max, [dst](uint32_t i, Entry e) { dst[i] = e; }, overrun);
}

// Whether the consumer would find work, reading the producer's line.
inline bool ringHasWork(const RingRef& r) {
  return r.prod->head.load(std::memory_order_acquire) != r.cons->tail.load(std::memory_order_relaxed);
}

// Empties a ring whose producer and consumer are both gone; only the manager does this.
inline void ringReset(const RingRef& r) {
  r.prod->head.store(0, std::memory_order_relaxed);
  r.prod->cachedTail = 0;
  r.prod->enqueued = r.prod->refused = r.prod->bursts = 0;
  r.cons->tail.store(0, std::memory_order_relaxed);
  r.cons->cachedHead = 0;
  r.cons->dequeued = r.cons->bursts = 0;
}

}  // namespace xio
