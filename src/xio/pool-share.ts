// An endpoint's share of the pool, as observers read it from a snapshot (the manager gives no
// endpoint more than its share: native/manager.cc, share_).
import type { PoolSnapshot, SlotSnapshot } from './region-view.ts'

/**
 * Whether the endpoint has its share of the pool and is given no more (what is sent to it
 * waits, as for a full RX ring): an NF that keeps packets, or one far behind.
 */
export function holdsItsShare(slot: Pick<SlotSnapshot, 'buffers'>, pool: Pick<PoolSnapshot, 'share'>): boolean {
  return pool.share > 0 && slot.buffers >= pool.share
}
