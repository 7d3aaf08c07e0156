// An endpoint's share of the pool, as observers read it from a snapshot (the manager gives no
// endpoint, all its instances together, more than its share: native/manager.cc, share_).
import type { PoolSnapshot, SlotSnapshot } from './region-view.ts'

type Held = Pick<SlotSnapshot, 'name' | 'capture' | 'state' | 'buffers'>

/**
 * Whether the slot's endpoint has its share of the pool and is given no more (what is sent to
 * it waits, as for a full RX ring): an NF that keeps packets, or one far behind. What its
 * instances hold counts together, as the manager counts it: a leaving or cut-off instance's
 * buffers too, until the manager has taken them back.
 */
export function holdsItsShare(slot: Pick<SlotSnapshot, 'name' | 'capture'>, snapshot: { slots: readonly Held[]; pool: Pick<PoolSnapshot, 'share'> }): boolean {
  if (snapshot.pool.share <= 0 || slot.capture) return false
  let held = 0
  for (const x of snapshot.slots) if (x.state !== 'free' && !x.capture && x.name === slot.name) held += x.buffers
  return held >= snapshot.pool.share
}
