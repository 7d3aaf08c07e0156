// Whether the other end of a connection still lives, read from the region (read-only): the
// kernel drops a dead process's slot lease, the manager then takes its buffers back and frees
// its slot (native/manager.cc), and a restarted process claims a slot under a new generation.
// So a peer is alive while its slot is active, serves the same service, and has the generation
// it had when the connection was made; a killed peer fails that within the manager's liveness
// period (20 ms) and its connections end with ECONNRESET.
import type { Layout } from '../xio/native.ts'
import type { RegionView } from '../xio/region-view.ts'

export interface SlotIdentity {
  slot: number
  generation: number
  service: number
}

/** The identity this endpoint's own slot has now (its generation was bumped when it claimed it). */
export function ownIdentity(L: Layout, region: RegionView, slot: number, service: number): SlotIdentity {
  return { slot, service, generation: region.u32[(region.slotOffset(slot) + L.endpointSide.generation) >>> 2] }
}

export function slotAlive(L: Layout, region: RegionView, peer: SlotIdentity): boolean {
  if (peer.slot >= region.slotCount) return false
  const ms = region.managerSideOffset(peer.slot)
  return (
    region.u32[(ms + L.managerSide.state) >>> 2] === L.slotState.active &&
    region.u16[(ms + L.managerSide.service) >>> 1] === peer.service &&
    region.u32[(region.slotOffset(peer.slot) + L.endpointSide.generation) >>> 2] === peer.generation
  )
}

/** Live instances of a service, as the manager counts them: 0 means nobody could answer a dial. */
export function liveInstances(L: Layout, region: RegionView, service: number): number {
  return region.u32[(region.serviceOffset(service) + L.service.instances) >>> 2]
}
