// The NAT's mappings and sessions (RFC 4787's terms). A mapping gives an inside endpoint
// (address and port, or ICMP identifier) its external port; a session joins it with one
// remote endpoint it talks to. Mapping is endpoint-independent (RFC 4787 REQ-1, RFC 5382
// REQ-1): while any session of an inside endpoint lives, every remote sees it from the same
// external port, so peer-to-peer applications can tell others where to reach it. Filtering
// is address- and port-dependent, as Linux's connection tracking does it: a packet from the
// outside passes only if a session with exactly its remote address and port exists (or a
// port forward opens one). An external port belongs to one mapping at a time, so the port
// range bounds the concurrent inside endpoints per protocol. Freed ports go to the back of a
// FIFO, so a port is reused as late as possible after its last session ends.
//
// Laid out for the per-packet lookup of an established flow, which should cost a cache line
// or two. A session is one 64-byte record holding its keys, its state, its expiry and the
// checksum deltas of its two rewrites (RFC 1624's ~m + m' over the words that change, summed
// once when the session opens, so a translation is a few byte writes and two additions).
// Sessions are found through open addressing over 8-byte (hash, session) slots, a quarter
// of the size of slots holding whole keys: from the inside by the 5-tuple the inside sends,
// from the outside by the one the replies carry; mappings, by inside endpoint, when a
// session opens.
//
// All of it is preallocated typed arrays: opening, finding and refreshing a session
// allocates nothing.

import { hash4 } from '../../packet/flow.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { translationDelta } from '../../packet/rewrite.ts'
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

// A session record: 16 int32 words, one cache line.
export const STRIDE = 16
/** Inside key: insideIp, remoteIp, INSIDE_KEY (ports: insidePort << 16 | remotePort; ICMP: id << 16), PROTO. */
export const R_INSIDE_IP = 0
export const R_REMOTE_IP = 1
const R_INSIDE_KEY = 2
/** Outside key: remoteIp, external, OUTSIDE_KEY (remotePort << 16 | extPort; ICMP: id), PROTO. */
const R_OUTSIDE_KEY = 3
const R_PROTO = 4
const R_STATE = 5
/** Mapping id + 1, or 0 for a session opened from the outside through a port forward (its port is the forward's). */
const R_MAPPING = 6
export const R_EXT_PORT = 7
export const R_INSIDE_PORT = 8
const R_REMOTE_PORT = 9
/** Checksum deltas of the outbound rewrite (inside -> external) and the inbound one (translationDelta). */
export const R_OUT_DELTA = 10
export const R_IN_DELTA = 11
/** Expiry time in ms (a float64 over words 12-13), or -1 for a free session. */
const F_EXPIRES = 6
const R_INSIDE_HASH = 14
const R_OUTSIDE_HASH = 15

// Index slots: (hash, session id) pairs; an empty slot has id -1.
const EMPTY = -1

function indexOf(maxEntries: number): Int32Array {
  let cap = 16
  while (cap < maxEntries * 2) cap *= 2 // load factor at most 1/2
  return new Int32Array(cap * 2).fill(EMPTY)
}

function indexInsert(x: Int32Array, hash: number, id: number): void {
  const mask = (x.length >> 1) - 1
  let i = hash & mask
  while (x[(i << 1) + 1] !== EMPTY) i = (i + 1) & mask
  x[i << 1] = hash
  x[(i << 1) + 1] = id
}

/** Removes the slot of session id (found by its hash), shifting later entries of its run back (Knuth's algorithm R: no tombstones). */
function indexRemove(x: Int32Array, hash: number, id: number): void {
  const mask = (x.length >> 1) - 1
  let i = hash & mask
  while (x[(i << 1) + 1] !== id) {
    if (x[(i << 1) + 1] === EMPTY) return
    i = (i + 1) & mask
  }
  let j = i
  for (;;) {
    j = (j + 1) & mask
    const hj = x[j << 1]
    const idj = x[(j << 1) + 1]
    if (idj === EMPTY) break
    const home = hj & mask
    const stays = i <= j ? i < home && home <= j : i < home || home <= j
    if (stays) continue
    x[i << 1] = hj
    x[(i << 1) + 1] = idj
    i = j
  }
  x[(i << 1) + 1] = EMPTY
}

// A mapping record: inside address, inside port (ICMP: identifier), protocol, external port.
const M_STRIDE = 4
const M_INSIDE_IP = 0
const M_INSIDE_PORT = 1
const M_PROTO = 2
const M_EXT_PORT = 3

export class Sessions {
  /** The session records, STRIDE words each; `expires` views the same memory as float64. */
  readonly r: Int32Array
  private readonly expires: Float64Array
  private readonly inside: Int32Array
  private readonly outside: Int32Array
  private readonly free: Int32Array
  private freeTop: number
  /** Mappings: records (M_STRIDE words), sessions using each, the hash each is indexed under. */
  private readonly m: Int32Array
  private readonly mSessions: Int32Array
  private readonly mHash: Int32Array
  private readonly mIndex: Int32Array
  private readonly mFree: Int32Array
  private mFreeTop: number
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
    this.r = new Int32Array(capacity * STRIDE)
    this.expires = new Float64Array(this.r.buffer)
    for (let id = 0; id < capacity; id++) this.expires[id * (STRIDE >> 1) + F_EXPIRES] = -1
    this.inside = indexOf(capacity)
    this.outside = indexOf(capacity)
    this.free = new Int32Array(capacity)
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i
    this.freeTop = capacity
    // Every mapping has a session: as many of them as sessions at most.
    this.m = new Int32Array(capacity * M_STRIDE)
    this.mSessions = new Int32Array(capacity)
    this.mHash = new Int32Array(capacity)
    this.mIndex = indexOf(capacity)
    this.mFree = new Int32Array(capacity)
    for (let i = 0; i < capacity; i++) this.mFree[i] = capacity - 1 - i
    this.mFreeTop = capacity
  }

  /** Sessions open now. */
  get active(): number {
    return this.capacity - this.freeTop
  }

  /** Mappings (inside endpoints with an external port) now. */
  get mappings(): number {
    return this.capacity - this.mFreeTop
  }

  private pool(proto: number): PortPool {
    return proto === _IPPROTO_TCP ? this.pools.tcp : proto === _IPPROTO_UDP ? this.pools.udp : this.pools.icmp
  }

  /** Session of a packet from the inside (ICMP: identifier as srcPort, dstPort 0), or -1. */
  findFromInside(src: number, dst: number, proto: number, srcPort: number, dstPort: number, now: number): number {
    const c = (srcPort << 16) | dstPort
    const hash = hash4(src, dst, c, proto)
    const x = this.inside
    const r = this.r
    const mask = (x.length >> 1) - 1
    let i = hash & mask
    for (;;) {
      const id = x[(i << 1) + 1]
      if (id === EMPTY) return -1
      const o = id * STRIDE
      if (x[i << 1] === hash && r[o + R_INSIDE_IP] === src && r[o + R_REMOTE_IP] === dst && r[o + R_INSIDE_KEY] === c && r[o + R_PROTO] === proto) {
        return this.live(id, now)
      }
      i = (i + 1) & mask
    }
  }

  /** Session of a packet from the outside to the external address (ICMP: srcPort 0, identifier as dstPort), or -1. */
  findFromOutside(src: number, proto: number, srcPort: number, dstPort: number, now: number): number {
    const r = this.r
    const c = (srcPort << 16) | dstPort
    const hash = hash4(src, this.external, c, proto)
    const x = this.outside
    const mask = (x.length >> 1) - 1
    let i = hash & mask
    for (;;) {
      const id = x[(i << 1) + 1]
      if (id === EMPTY) return -1
      const o = id * STRIDE
      if (x[i << 1] === hash && r[o + R_REMOTE_IP] === src && r[o + R_OUTSIDE_KEY] === c && r[o + R_PROTO] === proto) {
        return this.live(id, now)
      }
      i = (i + 1) & mask
    }
  }

  /** The session if it has not expired; an expired one found by a packet is released. */
  private live(id: number, now: number): number {
    if (this.expires[id * (STRIDE >> 1) + F_EXPIRES] <= now) {
      this.release(id)
      return -1
    }
    return id
  }

  /** The mapping of an inside endpoint, or -1. */
  private findMapping(proto: number, insideIp: number, insidePort: number): number {
    const hash = hash4(insideIp, insidePort, proto, 0)
    const x = this.mIndex
    const m = this.m
    const mask = (x.length >> 1) - 1
    let i = hash & mask
    for (;;) {
      const id = x[(i << 1) + 1]
      if (id === EMPTY) return -1
      const o = id * M_STRIDE
      if (x[i << 1] === hash && m[o + M_INSIDE_IP] === insideIp && m[o + M_INSIDE_PORT] === insidePort && m[o + M_PROTO] === proto) return id
      i = (i + 1) & mask
    }
  }

  /** The inside endpoint's mapping, made with a port from the pool if it has none; -1 if the pool is dry. */
  private mappingFor(proto: number, insideIp: number, insidePort: number, now: number): number {
    const found = this.findMapping(proto, insideIp, insidePort)
    if (found >= 0) return found
    if (this.pool(proto).size === 0) this.reclaim(now)
    const extPort = this.pool(proto).take()
    if (extPort < 0) return -1
    const id = this.mFree[--this.mFreeTop]
    const o = id * M_STRIDE
    this.m[o + M_INSIDE_IP] = insideIp
    this.m[o + M_INSIDE_PORT] = insidePort
    this.m[o + M_PROTO] = proto
    this.m[o + M_EXT_PORT] = extPort
    this.mSessions[id] = 0
    const hash = hash4(insideIp, insidePort, proto, 0)
    this.mHash[id] = hash
    indexInsert(this.mIndex, hash, id)
    return id
  }

  /** A session of the mapping ended; the mapping, and its port, go with the last. */
  private leaveMapping(id: number): void {
    if (--this.mSessions[id] > 0) return
    const o = id * M_STRIDE
    const proto = this.m[o + M_PROTO]
    const extPort = this.m[o + M_EXT_PORT]
    indexRemove(this.mIndex, this.mHash[id], id)
    this.pool(proto).give(extPort)
    this.mFree[this.mFreeTop++] = id
  }

  /**
   * Opens a session; extPort -1 uses the inside endpoint's mapping (made with a port from the
   * protocol's pool if it has none), a port forward passes its own. -1 if the pool or the
   * table is exhausted, even after reclaiming expired ones.
   */
  open(proto: number, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, extPort: number, now: number): number {
    const forwarded = extPort >= 0
    if (this.freeTop === 0) this.reclaim(now)
    if (this.freeTop === 0) {
      this.exhausted++
      return -1
    }
    let mapping = -1
    if (!forwarded) {
      mapping = this.mappingFor(proto, insideIp, insidePort, now)
      if (mapping < 0) {
        this.exhausted++
        return -1
      }
      this.mSessions[mapping]++
      extPort = this.m[mapping * M_STRIDE + M_EXT_PORT]
    }
    const id = this.free[--this.freeTop]
    const r = this.r
    const o = id * STRIDE
    const ext = this.external
    const icmp = proto === _IPPROTO_ICMP
    const ic = icmp ? insidePort << 16 : (insidePort << 16) | remotePort
    const oc = icmp ? extPort : (remotePort << 16) | extPort
    r[o + R_INSIDE_IP] = insideIp
    r[o + R_REMOTE_IP] = remoteIp
    r[o + R_INSIDE_KEY] = ic
    r[o + R_OUTSIDE_KEY] = oc
    r[o + R_PROTO] = proto
    r[o + R_STATE] = FLOW_NEW
    r[o + R_MAPPING] = mapping + 1
    r[o + R_EXT_PORT] = extPort
    r[o + R_INSIDE_PORT] = insidePort
    r[o + R_REMOTE_PORT] = remotePort
    r[o + R_OUT_DELTA] = translationDelta(proto, insideIp, ext, insidePort, extPort)
    r[o + R_IN_DELTA] = translationDelta(proto, ext, insideIp, extPort, insidePort)
    this.expires[id * (STRIDE >> 1) + F_EXPIRES] = now + flowTimeout(this.timeouts, proto, FLOW_NEW)
    const ih = hash4(insideIp, remoteIp, ic, proto)
    const oh = hash4(remoteIp, ext, oc, proto)
    r[o + R_INSIDE_HASH] = ih
    r[o + R_OUTSIDE_HASH] = oh
    indexInsert(this.inside, ih, id)
    indexInsert(this.outside, oh, id)
    this.created++
    return id
  }

  /** Refreshes a session for a packet; `fromInside` tells its direction. */
  touch(id: number, fromInside: boolean, tcpFlags: number, now: number): void {
    const r = this.r
    const o = id * STRIDE
    const proto = r[o + R_PROTO]
    const state = r[o + R_STATE]
    // The reply direction is the one that did not open the session.
    const reply = fromInside === (r[o + R_MAPPING] === 0)
    const st = nextFlowState(state, proto, reply, tcpFlags)
    if (st !== state) r[o + R_STATE] = st
    this.expires[id * (STRIDE >> 1) + F_EXPIRES] = now + flowTimeout(this.timeouts, proto, st)
  }

  extPort(id: number): number {
    return this.r[id * STRIDE + R_EXT_PORT]
  }

  insideIp(id: number): number {
    return this.r[id * STRIDE + R_INSIDE_IP]
  }

  insidePort(id: number): number {
    return this.r[id * STRIDE + R_INSIDE_PORT]
  }

  release(id: number): void {
    const r = this.r
    const o = id * STRIDE
    indexRemove(this.inside, r[o + R_INSIDE_HASH], id)
    indexRemove(this.outside, r[o + R_OUTSIDE_HASH], id)
    if (r[o + R_MAPPING] !== 0) this.leaveMapping(r[o + R_MAPPING] - 1)
    this.expires[id * (STRIDE >> 1) + F_EXPIRES] = -1
    this.free[this.freeTop++] = id
    this.expired++
  }

  /** Expires idle sessions in the next `slice` table entries; the whole table over successive calls. */
  sweep(now: number, slice: number): void {
    const cap = this.capacity
    for (let k = 0; k < slice && k < cap; k++) {
      const id = this.sweepAt
      this.sweepAt = id + 1 === cap ? 0 : id + 1
      const e = this.expires[id * (STRIDE >> 1) + F_EXPIRES]
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
