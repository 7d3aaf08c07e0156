// Burst enqueue and dequeue on a single-producer/single-consumer ring (see Ring in layout.h).
//
// Indices run freely over u32 and are masked on access, so used = head - tail even across
// wrap-around. The producer publishes entries with a release store of head; the consumer
// reads head with acquire, so it never sees an index before the entry behind it.
#pragma once

#include "layout.h"

namespace xio {

inline uint32_t ringUsed(const Ring* r) {
  return r->prod.head.load(std::memory_order_acquire) - r->cons.tail.load(std::memory_order_acquire);
}

// Room the producer may fill now, reading the consumer's line only when the cached view says full.
inline uint32_t ringRoom(Ring* r, uint32_t wanted) {
  uint32_t head = r->prod.head.load(std::memory_order_relaxed);
  uint32_t room = r->size - (head - r->prod.cachedTail);
  if (room < wanted) {
    r->prod.cachedTail = r->cons.tail.load(std::memory_order_acquire);
    room = r->size - (head - r->prod.cachedTail);
  }
  return room;
}

// Copies n entries that the caller has made room for (ringRoom) and publishes them.
inline void ringPublish(Ring* r, const uint32_t* src, uint32_t n) {
  uint32_t head = r->prod.head.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) r->entries[(head + i) & r->mask] = src[i];
  r->prod.head.store(head + n, std::memory_order_release);
  r->prod.enqueued += n;
  r->prod.bursts++;
}

// Enqueues up to n; returns how many went in and counts the rest as refused.
inline uint32_t ringEnqueue(Ring* r, const uint32_t* src, uint32_t n) {
  uint32_t room = ringRoom(r, n);
  uint32_t k = n < room ? n : room;
  if (k) ringPublish(r, src, k);
  r->prod.refused += n - k;
  return k;
}

inline uint32_t ringDequeue(Ring* r, uint32_t* dst, uint32_t max) {
  uint32_t tail = r->cons.tail.load(std::memory_order_relaxed);
  uint32_t avail = r->cons.cachedHead - tail;
  if (avail < max) {
    r->cons.cachedHead = r->prod.head.load(std::memory_order_acquire);
    avail = r->cons.cachedHead - tail;
  }
  uint32_t k = avail < max ? avail : max;
  if (!k) return 0;
  for (uint32_t i = 0; i < k; i++) dst[i] = r->entries[(tail + i) & r->mask];
  r->cons.tail.store(tail + k, std::memory_order_release);
  r->cons.dequeued += k;
  r->cons.bursts++;
  return k;
}

// Whether the consumer would find work, reading the producer's line.
inline bool ringHasWork(Ring* r) {
  return r->prod.head.load(std::memory_order_acquire) != r->cons.tail.load(std::memory_order_relaxed);
}

// Empties a ring whose producer and consumer are both gone; only the manager does this.
inline void ringReset(Ring* r, uint32_t size) {
  r->prod.head.store(0, std::memory_order_relaxed);
  r->prod.cachedTail = 0;
  r->prod.enqueued = r->prod.refused = r->prod.bursts = 0;
  r->cons.tail.store(0, std::memory_order_relaxed);
  r->cons.cachedHead = 0;
  r->cons.dequeued = r->cons.bursts = 0;
  r->size = size;
  r->mask = size - 1;
}

}  // namespace xio
