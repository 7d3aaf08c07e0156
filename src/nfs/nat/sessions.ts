// The NAT's mappings. A session joins an inside endpoint (address, port or ICMP identifier)
// talking to a remote endpoint with the external port it appears from, and is found from
// either side: by the 5-tuple as the inside sends it, and by the 5-tuple the replies carry
// on the outside. Like Linux masquerade it is a per-connection mapping (address- and
// port-dependent, RFC 4787), but an external port belongs to one session at a time, so the
// port range bounds the concurrent flows per protocol. Freed ports go to the back of a FIFO,
// so a port is reused as late as possible after its flow ends.
//
// All of it is preallocated typed arrays: opening, finding and refreshing a session
// allocates nothing.

import { hash4 } from '../../packet/flow.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { FlowIndex } from '../lib/flow-index.ts'
import { FLOW_NEW, flowTimeout, nextFlowState, type Timeouts } from '../lib/flow-state.ts'

// Module-local copies of imported constants: TurboFan folds these, not imported bindings.
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPPROTO_TCP = IPPROTO_TCP
const _IPPROTO_UDP = IPPROTO_UDP

/** External ports (or ICMP identifiers) free for one protocol, oldest-freed first. */
export class PortPool {
  private readonly ring: Uint16Array
  private head = 0
  size: number

  constructor(low: number, high: number, reserved: ReadonlySet<number>) {
    this.ring = new Uint16Array(high - low + 1)
    let n = 0
    for (let p = low; p <= high; p++) if (!reserved.has(p)) this.ring[n++] = p
    this.size = n
  }

  /** A free port, or -1 if none is left. */
  take(): number {
    if (this.size === 0) return -1
    const p = this.ring[this.head]
    this.head = this.head + 1 === this.ring.length ? 0 : this.head + 1
    this.size--
    return p
  }

  give(port: number): void {
    let tail = this.head + this.size
    if (tail >= this.ring.length) tail -= this.ring.length
    this.ring[tail] = port
    this.size++
  }
}

export class Sessions {
  readonly inside: FlowIndex
  readonly outside: FlowIndex
  readonly proto: Uint8Array
  readonly insideIp: Int32Array
  readonly insidePort: Int32Array
  readonly remoteIp: Int32Array
  readonly remotePort: Int32Array
  readonly extPort: Int32Array
  /** 1 if opened from the outside through a port forward (its port is not from the pool). */
  readonly forwarded: Uint8Array
  readonly state: Uint8Array
  /** Expiry time in ms, or -1 for a free session. */
  readonly expires: Float64Array
  private readonly insideHash: Int32Array
  private readonly outsideHash: Int32Array
  private readonly free: Int32Array
  private freeTop: number
  private sweepAt = 0
  private lastReclaim = -1

  created = 0
  expired = 0
  exhausted = 0

  constructor(
    readonly capacity: number,
    readonly external: number,
    private readonly pools: { tcp: PortPool; udp: PortPool; icmp: PortPool },
    private readonly timeouts: Timeouts,
  ) {
    this.inside = new FlowIndex(capacity)
    this.outside = new FlowIndex(capacity)
    this.proto = new Uint8Array(capacity)
    this.insideIp = new Int32Array(capacity)
    this.insidePort = new Int32Array(capacity)
    this.remoteIp = new Int32Array(capacity)
    this.remotePort = new Int32Array(capacity)
    this.extPort = new Int32Array(capacity)
    this.forwarded = new Uint8Array(capacity)
    this.state = new Uint8Array(capacity)
    this.expires = new Float64Array(capacity).fill(-1)
    this.insideHash = new Int32Array(capacity)
    this.outsideHash = new Int32Array(capacity)
    this.free = new Int32Array(capacity)
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i
    this.freeTop = capacity
  }

  get active(): number {
    return this.capacity - this.freeTop
  }

  private pool(proto: number): PortPool {
    return proto === _IPPROTO_TCP ? this.pools.tcp : proto === _IPPROTO_UDP ? this.pools.udp : this.pools.icmp
  }

  /** Session of a packet from the inside (ICMP: identifier as srcPort, dstPort 0), or -1. */
  findFromInside(src: number, dst: number, proto: number, srcPort: number, dstPort: number, now: number): number {
    const c = (srcPort << 16) | dstPort
    const id = this.inside.find(src, dst, c, proto, hash4(src, dst, c, proto))
    if (id < 0) return -1
    if (this.expires[id] <= now) {
      this.release(id)
      return -1
    }
    return id
  }

  /** Session of a packet from the outside to the external address (ICMP: srcPort 0, identifier as dstPort), or -1. */
  findFromOutside(src: number, proto: number, srcPort: number, dstPort: number, now: number): number {
    const c = (srcPort << 16) | dstPort
    const id = this.outside.find(src, this.external, c, proto, hash4(src, this.external, c, proto))
    if (id < 0) return -1
    if (this.expires[id] <= now) {
      this.release(id)
      return -1
    }
    return id
  }

  /**
   * Opens a session; extPort -1 takes one from the protocol's pool (a port forward passes
   * its own). -1 if the pool or the table is exhausted, even after reclaiming expired ones.
   */
  open(proto: number, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, extPort: number, now: number): number {
    const forwarded = extPort >= 0
    if ((!forwarded && this.pool(proto).size === 0) || this.freeTop === 0) this.reclaim(now)
    if (this.freeTop === 0) {
      this.exhausted++
      return -1
    }
    if (!forwarded) {
      extPort = this.pool(proto).take()
      if (extPort < 0) {
        this.exhausted++
        return -1
      }
    }
    const id = this.free[--this.freeTop]
    this.proto[id] = proto
    this.insideIp[id] = insideIp
    this.insidePort[id] = insidePort
    this.remoteIp[id] = remoteIp
    this.remotePort[id] = remotePort
    this.extPort[id] = extPort
    this.forwarded[id] = forwarded ? 1 : 0
    this.state[id] = FLOW_NEW
    this.expires[id] = now + flowTimeout(this.timeouts, proto, FLOW_NEW)
    const ic = proto === _IPPROTO_ICMP ? insidePort << 16 : (insidePort << 16) | remotePort
    const oc = proto === _IPPROTO_ICMP ? extPort : (remotePort << 16) | extPort
    this.insideHash[id] = hash4(insideIp, remoteIp, ic, proto)
    this.outsideHash[id] = hash4(remoteIp, this.external, oc, proto)
    this.inside.insert(insideIp, remoteIp, ic, proto, this.insideHash[id], id)
    this.outside.insert(remoteIp, this.external, oc, proto, this.outsideHash[id], id)
    this.created++
    return id
  }

  /** Refreshes a session for a packet; `fromInside` tells its direction. */
  touch(id: number, fromInside: boolean, tcpFlags: number, now: number): void {
    const proto = this.proto[id]
    // The reply direction is the one that did not open the session.
    const reply = fromInside === (this.forwarded[id] === 1)
    const st = nextFlowState(this.state[id], proto, reply, tcpFlags)
    this.state[id] = st
    this.expires[id] = now + flowTimeout(this.timeouts, proto, st)
  }

  release(id: number): void {
    const proto = this.proto[id]
    const ip = this.insidePort[id]
    const rp = this.remotePort[id]
    const ep = this.extPort[id]
    const ic = proto === _IPPROTO_ICMP ? ip << 16 : (ip << 16) | rp
    const oc = proto === _IPPROTO_ICMP ? ep : (rp << 16) | ep
    this.inside.remove(this.insideIp[id], this.remoteIp[id], ic, proto, this.insideHash[id])
    this.outside.remove(this.remoteIp[id], this.external, oc, proto, this.outsideHash[id])
    if (this.forwarded[id] === 0) this.pool(proto).give(ep)
    this.expires[id] = -1
    this.free[this.freeTop++] = id
    this.expired++
  }

  /** Expires idle sessions in the next `slice` table entries; the whole table over successive calls. */
  sweep(now: number, slice: number): void {
    const cap = this.capacity
    for (let k = 0; k < slice && k < cap; k++) {
      const id = this.sweepAt
      this.sweepAt = id + 1 === cap ? 0 : id + 1
      const e = this.expires[id]
      if (e >= 0 && e <= now) this.release(id)
    }
  }

  /** Out of ports or sessions: one full sweep per clock step, so a flood of new flows stays cheap. */
  private reclaim(now: number): void {
    if (this.lastReclaim === now) return
    this.lastReclaim = now
    this.sweep(now, this.capacity)
  }
}
