// A capture endpoint: attached to a running chain in a slot of its own, it names taps (an
// endpoint's input, one of its gates, or all it sends) and the manager, through which every
// descriptor passes, copies what each tap sees into pool buffers delivered on this endpoint's
// RX ring. Copies are made only while taps are set; the chain's own packets are never held or
// dropped for them: a copy that does not fit (this endpoint's ring is full, it holds a ring's
// worth already, or the pool is down to the chain's reserve) is counted lost instead.
import { asXioError, XioError } from './errors.ts'
import { addon, layout } from './native.ts'
import { EndpointBase } from './endpoint-base.ts'

/**
 * What a tap sees: what `service` receives (rx), sends through one gate, or sends at all (tx);
 * or, a trace, the next `packets` packets that enter the chain, copied at every hop.
 */
export type Tap = { service: number; kind: 'rx' } | { service: number; kind: 'gate'; gate: number } | { service: number; kind: 'tx' } | { kind: 'trace'; packets: number }

/** The most packets one trace follows (the tap word's 16 bits). */
export const MAX_TRACED = 0xffff

const M = layout.meta
const C = layout.capture

export class Capture extends EndpointBase {
  /**
   * Sets the taps (replacing any before) and waits until the manager copies by them; false if
   * it did not say so within timeoutMs. An empty list stops every copy.
   */
  setTaps(taps: readonly Tap[], timeoutMs = 2000): boolean {
    if (taps.length > C.maxTaps) throw new XioError('BAD_CONFIG', `a capture takes at most ${C.maxTaps} taps, got ${taps.length}`)
    const words = Uint32Array.from(taps, (t) => {
      if (t.kind === 'trace') {
        if (!(t.packets >= 1 && t.packets <= MAX_TRACED)) throw new XioError('BAD_CONFIG', `a trace follows 1 to ${MAX_TRACED} packets, not ${t.packets}`)
        return (t.packets | (C.trace << 24)) >>> 0
      }
      const kind = t.kind === 'rx' ? C.rx : t.kind === 'tx' ? C.tx : C.gate
      return ((t.service & 0xffff) | (((t.kind === 'gate' ? t.gate : 0) & 0xff) << 16) | (kind << 24)) >>> 0
    })
    try {
      return this.endpoint.waitTaps(this.endpoint.setTaps(words), timeoutMs)
    } catch (e) {
      throw asXioError(e)
    }
  }








  /** The index, in the list given to setTaps, of the tap that made the copy. */
  tap(d: number): number {
    return this.u32[(this.base + d * this.stride + M.tap) >>> 2]
  }




  /** A trace copy: the traced packet's number (its tracer's count), 0 on other copies. */
  trace(d: number): number {
    return this.u32[(this.base + d * this.stride + M.trace) >>> 2] & 0xffffff
  }

  /** A trace copy: what its sender did with it (the action word: see layout.action). */
  action(d: number): number {
    return this.u32[(this.base + d * this.stride + M.action) >>> 2]
  }

  /** What the manager counts for this endpoint: copies delivered, copies lost, taps it applies. */
  counters(): { captured: number; captureLost: number; taps: number } {
    const s = this.region.slot(this.slot)
    const side = this.region.managerSideOffset(this.slot)
    return { captured: s.route.captured, captureLost: s.route.captureLost, taps: this.u32[(side + layout.managerSide.tapsActive) >>> 2] }
  }


}

/** Attaches a capture endpoint to the chain on `prefix`; it has no taps until setTaps. */
export function attachCapture(prefix: string, spinUs = 50): Capture {
  try {
    const region = addon.Region.attach(prefix, false)
    return new Capture(prefix, region, new addon.Endpoint(region, '', spinUs, true))
  } catch (e) {
    throw asXioError(e)
  }
}
