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
//
// The session records live in the NF's state (env.state), which outlives the process: a NAT
// killed and restarted finds them, and rebuilds the rest (indexes, mappings, the ports' free
// lists) from them, so established flows keep their external ports. ../lib/state.ts says why
// a record can be trusted whenever the writer died: R_PROTO is its valid word.

import { hash4 } from '../../packet/flow.ts'
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { translationDelta } from '../../packet/rewrite.ts'
import { FLOW_CLOSING, FLOW_NEW, flowTimeout, nextFlowState, type Timeouts } from '../lib/flow-state.ts'
import { float64s, int32s, StateLayout, storeValid } from '../lib/state.ts'

// Module-local copies of imported constants: TurboFan folds these, not imported bindings.
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPPROTO_TCP = IPPROTO_TCP
const _IPPROTO_UDP = IPPROTO_UDP

/**
 * Which instance of a NAT hands out an external port (or ICMP identifier): each of `of`
 * instances takes every `of`-th port, so any instance tells a reply's owner from its
 * destination port alone. By the port alone, not its place in the range: a reload that moves
 * the range leaves every port with the instance that holds its sessions.
 */
export function portOwner(port: number, of: number): number {
  return port % of
}

/** External ports (or ICMP identifiers) free for one protocol, oldest-freed first. */
export class PortPool {
  private readonly ring: Uint16Array
  private head = 0
  size: number
  /**
   * When each port was last given back (a count; 0: never), by port: in the NAT's state once
   * keepOrderIn() says so, so a NAT resuming puts the free ports back in the order it had them.
   */
  private given: Float64Array = new Float64Array(65536)
  private seq = 0

  /** `share`: this pool's part of the range when a NAT runs as several instances (portOwner). */
  constructor(
    readonly low: number,
    readonly high: number,
    private readonly reserved: ReadonlySet<number>,
    private readonly share = { instance: 0, instances: 1 },
  ) {
    this.ring = new Uint16Array(high - low + 1)
    this.size = 0
    this.refill(() => false)
  }

  /** Keeps the order ports are given back in `given` (65536 float64s of the NAT's state); refill() reads it. */
  keepOrderIn(given: Float64Array): void {
    this.given = given
  }

  /** Whether the port is a forward's, which no mapping gets. */
  reserves(port: number): boolean {
    return this.reserved.has(port)
  }

  /** Whether the port is one this pool hands out (in its range and its share of it, not reserved for a forward). */
  owns(port: number): boolean {
    return port >= this.low && port <= this.high && !this.reserved.has(port) && portOwner(port, this.share.instances) === this.share.instance
  }

  /**
   * Every port of the pool free but those `taken` says are in use (a NAT resuming its
   * sessions), in the order the FIFO had them: the ports never given back, ascending as a fresh
   * pool has them, then those given back, in the order they were. (At start only: it allocates.)
   */
  refill(taken: (port: number) => boolean): void {
    const given = this.given
    const never: number[] = []
    const back: number[] = []
    let seq = 0
    for (let p = this.low; p <= this.high; p++) {
      const g = given[p]
      const known = g > 0 && g <= Number.MAX_SAFE_INTEGER
      if (known && g > seq) seq = g
      if (!this.owns(p) || taken(p)) continue
      if (known) back.push(p)
      else never.push(p)
    }
    back.sort((a, b) => given[a] - given[b] || a - b)
    let n = 0
    for (const p of never) this.ring[n++] = p
    for (const p of back) this.ring[n++] = p
    this.head = 0
    this.size = n
    this.seq = seq
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
    this.given[port] = ++this.seq
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
/** The protocol (ICMP, TCP or UDP), and the record's valid word: 0 for a free record, stored last when a session opens and first when it goes. */
const R_PROTO = 4
const R_STATE = 5
/**
 * Mapping id + 1, or 0 for a session opened from the outside through a port forward (its port
 * is the forward's). Mapping ids are the process's own: a NAT resuming rewrites them.
 */
const R_MAPPING = 6
export const R_EXT_PORT = 7
export const R_INSIDE_PORT = 8
const R_REMOTE_PORT = 9
/** Checksum deltas of the outbound rewrite (inside -> external) and the inbound one (translationDelta). */
export const R_OUT_DELTA = 10
export const R_IN_DELTA = 11
/**
 * Expiry time in ms (a float64 over words 12-13); for a free record, minus when it was freed
 * (a count, so a NAT resuming reuses records in the order it would have), 0 if never used.
 */
const F_EXPIRES = 6
/** Derived words, rewritten by a NAT resuming: the two keys' hashes (and the deltas above). */
const R_INSIDE_HASH = 14
const R_OUTSIDE_HASH = 15

// The state's header, before the records: int32 words 0, 1 and 4; float64 1 (words 2-3).
/** The external address the records' deltas are for: sessions of another one are dropped. */
const H_EXTERNAL = 0
/** 1 once a NAT has used the state. */
const H_STARTED = 1
/** Where the sweep goes on from (so a NAT resuming expires sessions in the order it would have). */
const H_SWEEP_AT = 4
/** The NF's clock at its last tick (float64 index). */
const F_CLOCK = 1
const HEADER_BYTES = 64

/** Names the state's layout (env.state's tag): change it with the layout. */
export const SESSIONS_STATE_TAG = 'xio-chain nat sessions v1'

/** Bytes of state a table of `capacity` sessions takes. */
export function sessionsStateBytes(capacity: number): number {
  return stateLayout(capacity).bytes
}

/** The header, the records, then for each protocol's port pool when each port was given back. */
function stateLayout(capacity: number) {
  const l = new StateLayout()
  const at = { header: l.int32(HEADER_BYTES / 4), records: l.int32(capacity * STRIDE), tcp: l.float64(65536), udp: l.float64(65536), icmp: l.float64(65536) }
  return { at, bytes: l.bytes }
}

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

/** A session as tests and tools see it. */
export interface SessionInfo {
  proto: number
  insideIp: number
  insidePort: number
  remoteIp: number
  remotePort: number
  extPort: number
  /** Opened through a port forward. */
  forwarded: boolean
  state: number
  expires: number
}

export class Sessions {
  /** The session records, STRIDE words each, in the state; `expires` views the same memory as float64. */
  readonly r: Int32Array
  private readonly expires: Float64Array
  private readonly header: Int32Array
  private readonly clock: Float64Array
  /** What a resumed NAT adds to its clock so it carries on from where the state's left off. */
  readonly clockOffset: number
  /** Sessions found valid in the state when it was opened. */
  readonly resumed: number = 0
  /** Records dropped then: malformed, or contradicting the config or another session. */
  readonly dropped: number = 0
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
  /** Records freed so far (see F_EXPIRES). */
  private freedSeq = 0

  created = 0
  expired = 0
  exhausted = 0

  /**
   * A table of `capacity` sessions over `state` (sessionsStateBytes(capacity) bytes, zeroed or
   * as a NAT left it); `now` is the NF's clock. Sessions found there are resumed.
   */
  constructor(
    readonly capacity: number,
    readonly external: number,
    private readonly pools: { tcp: PortPool; udp: PortPool; icmp: PortPool },
    private readonly timeouts: Timeouts,
    state: ArrayBuffer = new ArrayBuffer(sessionsStateBytes(capacity)),
    now = 0,
  ) {
    if (state.byteLength < sessionsStateBytes(capacity)) throw new RangeError(`NAT state of ${state.byteLength} bytes: ${capacity} sessions need ${sessionsStateBytes(capacity)}`)
    const { at } = stateLayout(capacity)
    this.header = int32s(state, at.header, HEADER_BYTES / 4)
    this.clock = float64s(state, at.header, HEADER_BYTES / 8)
    this.r = int32s(state, at.records, capacity * STRIDE)
    this.expires = float64s(state, at.records, capacity * (STRIDE >> 1))
    pools.tcp.keepOrderIn(float64s(state, at.tcp, 65536))
    pools.udp.keepOrderIn(float64s(state, at.udp, 65536))
    pools.icmp.keepOrderIn(float64s(state, at.icmp, 65536))
    this.inside = indexOf(capacity)
    this.outside = indexOf(capacity)
    this.free = new Int32Array(capacity)
    this.freeTop = 0
    // Every mapping has a session: as many of them as sessions at most.
    this.m = new Int32Array(capacity * M_STRIDE)
    this.mSessions = new Int32Array(capacity)
    this.mHash = new Int32Array(capacity)
    this.mIndex = indexOf(capacity)
    this.mFree = new Int32Array(capacity)
    for (let i = 0; i < capacity; i++) this.mFree[i] = capacity - 1 - i
    this.mFreeTop = capacity
    const started = this.header[H_STARTED] === 1
    this.clockOffset = started ? Math.max(0, this.clock[F_CLOCK] - now) : 0
    if (started && this.header[H_EXTERNAL] !== external) {
      // Translated to another address: no use to anyone. Records first, so a NAT killed
      // meanwhile finds the old address again and drops them again.
      for (let o = R_PROTO; o < capacity * STRIDE; o += STRIDE) this.r[o] = 0
    }
    this.header[H_EXTERNAL] = external
    this.header[H_STARTED] = 1
    const sweepAt = this.header[H_SWEEP_AT]
    this.sweepAt = sweepAt >= 0 && sweepAt < capacity ? sweepAt : 0
    const counts = this.resume(now + this.clockOffset)
    this.resumed = counts.resumed
    this.dropped = counts.dropped
    this.saveClock(now + this.clockOffset)
  }

  /** Notes the clock (the NF calls it each tick), for a NAT that resumes this state. */
  saveClock(now: number): void {
    this.clock[F_CLOCK] = now
  }

  /**
   * Rebuilds the indexes, mappings, free lists and port pools from the valid records, as
   * ../lib/state.ts explains; a record that is malformed, or contradicts the config or a
   * session already taken (its key, or its port's mapping) is freed.
   */
  private resume(now: number): { resumed: number; dropped: number } {
    const r = this.r
    const cap = this.capacity
    const taken = { tcp: new Uint8Array(65536), udp: new Uint8Array(65536), icmp: new Uint8Array(65536) }
    let resumed = 0, dropped = 0
    const freedAt = (id: number) => {
      const e = this.expires[id * (STRIDE >> 1) + F_EXPIRES]
      return r[id * STRIDE + R_PROTO] === 0 && e < 0 && e >= -Number.MAX_SAFE_INTEGER ? -e : 0
    }
    for (let id = 0; id < cap; id++) this.freedSeq = Math.max(this.freedSeq, freedAt(id))
    const freed: number[] = []
    const never: number[] = []
    for (let id = 0; id < cap; id++) {
      if (this.resumeOne(id, now, taken)) {
        resumed++
        continue
      }
      const o = id * STRIDE
      if (r[o + R_PROTO] !== 0) {
        storeValid(r, o + R_PROTO, 0)
        dropped++
      }
      const e = this.expires[id * (STRIDE >> 1) + F_EXPIRES]
      // Freed now, unless freed before (its count) or never used (0).
      if (e !== 0 && freedAt(id) === 0) this.expires[id * (STRIDE >> 1) + F_EXPIRES] = -++this.freedSeq
      if (this.expires[id * (STRIDE >> 1) + F_EXPIRES] === 0) never.push(id)
      else freed.push(id)
    }
    // The free list as it was: records never used below, the lowest on top of them (as a fresh
    // table has it), then the freed ones in the order they were freed, the last on top.
    for (let k = never.length - 1; k >= 0; k--) this.free[this.freeTop++] = never[k]
    freed.sort((a, b) => freedAt(a) - freedAt(b))
    for (const id of freed) this.free[this.freeTop++] = id
    this.pools.tcp.refill((p) => taken.tcp[p] === 1)
    this.pools.udp.refill((p) => taken.udp[p] === 1)
    this.pools.icmp.refill((p) => taken.icmp[p] === 1)
    return { resumed, dropped }
  }

  private resumeOne(id: number, now: number, taken: { tcp: Uint8Array; udp: Uint8Array; icmp: Uint8Array }): boolean {
    const r = this.r
    const o = id * STRIDE
    const proto = r[o + R_PROTO]
    if (proto !== _IPPROTO_TCP && proto !== _IPPROTO_UDP && proto !== _IPPROTO_ICMP) return false
    // An expired session is taken back too, and goes as it would have gone (swept, or found
    // expired), its port with it: a NAT resuming behaves as one that never stopped.
    const e = this.expires[id * (STRIDE >> 1) + F_EXPIRES]
    if (!(e > 0)) return false
    // Timeouts shortened since (a reload): none lives longer than the longest of them now.
    const longest = now + maxTimeout(this.timeouts)
    if (e > longest) this.expires[id * (STRIDE >> 1) + F_EXPIRES] = longest
    const state = r[o + R_STATE]
    if (state < FLOW_NEW || state > FLOW_CLOSING) return false
    const insideIp = r[o + R_INSIDE_IP]
    const remoteIp = r[o + R_REMOTE_IP]
    const insidePort = r[o + R_INSIDE_PORT]
    const remotePort = r[o + R_REMOTE_PORT]
    const extPort = r[o + R_EXT_PORT]
    const icmp = proto === _IPPROTO_ICMP
    if ((insidePort & 0xffff) !== insidePort || (remotePort & 0xffff) !== remotePort || (extPort & 0xffff) !== extPort) return false
    if (icmp && remotePort !== 0) return false
    const ic = icmp ? insidePort << 16 : (insidePort << 16) | remotePort
    const oc = icmp ? extPort : (remotePort << 16) | extPort
    if (r[o + R_INSIDE_KEY] !== ic || r[o + R_OUTSIDE_KEY] !== oc) return false
    const pool = this.pool(proto)
    const forwarded = r[o + R_MAPPING] === 0
    // A forward's session keeps a forward's port (one the pools keep out); a mapping's, one of
    // this pool's (its share of the range, when the NAT runs as several instances).
    if (forwarded ? !pool.reserves(extPort) : !pool.owns(extPort)) return false
    const ext = this.external
    const ih = hash4(insideIp, remoteIp, ic, proto)
    const oh = hash4(remoteIp, ext, oc, proto)
    if (this.indexed(this.inside, ih, o, R_INSIDE_IP, insideIp, R_REMOTE_IP, remoteIp, R_INSIDE_KEY, ic, proto)) return false
    if (this.indexed(this.outside, oh, o, R_REMOTE_IP, remoteIp, R_OUTSIDE_KEY, oc, R_OUTSIDE_KEY, oc, proto)) return false
    let mapping = -1
    if (!forwarded) {
      mapping = this.findMapping(proto, insideIp, insidePort)
      if (mapping >= 0) {
        if (this.m[mapping * M_STRIDE + M_EXT_PORT] !== extPort) return false
      } else {
        const inUse = proto === _IPPROTO_TCP ? taken.tcp : proto === _IPPROTO_UDP ? taken.udp : taken.icmp
        if (inUse[extPort] === 1) return false
        inUse[extPort] = 1
        mapping = this.newMapping(proto, insideIp, insidePort, extPort)
      }
      this.mSessions[mapping]++
    }
    // The derived words, as open() would have written them.
    r[o + R_MAPPING] = mapping + 1
    r[o + R_OUT_DELTA] = translationDelta(proto, insideIp, ext, insidePort, extPort)
    r[o + R_IN_DELTA] = translationDelta(proto, ext, insideIp, extPort, insidePort)
    r[o + R_INSIDE_HASH] = ih
    r[o + R_OUTSIDE_HASH] = oh
    indexInsert(this.inside, ih, id)
    indexInsert(this.outside, oh, id)
    return true
  }

  /** Whether an index already holds a session with this key (the record at o's own fields). */
  private indexed(x: Int32Array, hash: number, o: number, fa: number, a: number, fb: number, b: number, fc: number, c: number, proto: number): boolean {
    const r = this.r
    const mask = (x.length >> 1) - 1
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const id = x[(i << 1) + 1]
      if (id === EMPTY) return false
      const p = id * STRIDE
      if (p !== o && x[i << 1] === hash && r[p + fa] === a && r[p + fb] === b && r[p + fc] === c && r[p + R_PROTO] === proto) return true
    }
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
    return this.newMapping(proto, insideIp, insidePort, extPort)
  }

  private newMapping(proto: number, insideIp: number, insidePort: number, extPort: number): number {
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
    // Every field before R_PROTO, the valid word, which is stored last (../lib/state.ts).
    r[o + R_INSIDE_IP] = insideIp
    r[o + R_REMOTE_IP] = remoteIp
    r[o + R_INSIDE_KEY] = ic
    r[o + R_OUTSIDE_KEY] = oc
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
    storeValid(r, o + R_PROTO, proto)
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
    // Invalid first: from here on the port may go to another mapping.
    storeValid(r, o + R_PROTO, 0)
    indexRemove(this.inside, r[o + R_INSIDE_HASH], id)
    indexRemove(this.outside, r[o + R_OUTSIDE_HASH], id)
    if (r[o + R_MAPPING] !== 0) this.leaveMapping(r[o + R_MAPPING] - 1)
    this.expires[id * (STRIDE >> 1) + F_EXPIRES] = -++this.freedSeq
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
      if (e > 0 && e <= now) this.release(id)
    }
    this.header[H_SWEEP_AT] = this.sweepAt
  }

  /** Expires every idle session; returns when the next of those left expires (Infinity: none left). */
  sweepAll(now: number): number {
    this.sweep(now, this.capacity)
    let soonest = Infinity
    for (let id = 0; id < this.capacity; id++) {
      const e = this.expires[id * (STRIDE >> 1) + F_EXPIRES]
      if (e > 0 && e < soonest) soonest = e
    }
    return soonest
  }

  /** Out of ports or sessions: one full sweep per clock step, so a flood of new flows stays cheap. */
  private reclaim(now: number): void {
    if (this.lastReclaim === now) return
    this.lastReclaim = now
    this.sweep(now, this.capacity)
  }

  /** The open sessions, for tests and tools (allocates). */
  list(): SessionInfo[] {
    const out: SessionInfo[] = []
    for (let id = 0; id < this.capacity; id++) if (this.r[id * STRIDE + R_PROTO] !== 0) out.push(this.info(id))
    return out
  }

  /** One session's record, for tests, tools and traces (allocates). */
  info(id: number): SessionInfo {
    const r = this.r
    const o = id * STRIDE
    return {
      proto: r[o + R_PROTO], insideIp: r[o + R_INSIDE_IP], insidePort: r[o + R_INSIDE_PORT], remoteIp: r[o + R_REMOTE_IP],
      remotePort: r[o + R_REMOTE_PORT], extPort: r[o + R_EXT_PORT], forwarded: r[o + R_MAPPING] === 0, state: r[o + R_STATE],
      expires: this.expires[id * (STRIDE >> 1) + F_EXPIRES],
    }
  }

  /** What is wrong between the records and what was derived from them (for tests): nothing, always. */
  problems(): string[] {
    const out: string[] = []
    const r = this.r
    const portOf = new Map<string, number>()
    const mappingOf = new Map<string, string>()
    let valid = 0
    for (let id = 0; id < this.capacity; id++) {
      const o = id * STRIDE
      const proto = r[o + R_PROTO]
      if (proto === 0) continue
      valid++
      const s = { proto, insideIp: r[o + R_INSIDE_IP], insidePort: r[o + R_INSIDE_PORT], remoteIp: r[o + R_REMOTE_IP], remotePort: r[o + R_REMOTE_PORT] }
      const icmp = proto === _IPPROTO_ICMP
      const found = this.findFromInside(s.insideIp, s.remoteIp, proto, s.insidePort, icmp ? 0 : s.remotePort, -Infinity)
      if (found !== id) out.push(`session ${id} is not found from the inside (found ${found})`)
      const back = icmp
        ? this.findFromOutside(s.remoteIp, proto, 0, r[o + R_EXT_PORT], -Infinity)
        : this.findFromOutside(s.remoteIp, proto, s.remotePort, r[o + R_EXT_PORT], -Infinity)
      if (back !== id) out.push(`session ${id} is not found from the outside (found ${back})`)
      if (r[o + R_MAPPING] !== 0) {
        const endpoint = `${proto}/${s.insideIp}:${s.insidePort}`
        const port = portOf.get(endpoint)
        if (port !== undefined && port !== r[o + R_EXT_PORT]) out.push(`${endpoint} has ports ${port} and ${r[o + R_EXT_PORT]}`)
        portOf.set(endpoint, r[o + R_EXT_PORT])
        const owner = mappingOf.get(`${proto}/${r[o + R_EXT_PORT]}`)
        if (owner !== undefined && owner !== endpoint) out.push(`port ${proto}/${r[o + R_EXT_PORT]} is both ${owner}'s and ${endpoint}'s`)
        mappingOf.set(`${proto}/${r[o + R_EXT_PORT]}`, endpoint)
        if (this.pool(proto).owns(r[o + R_EXT_PORT]) === false) out.push(`session ${id} maps to ${r[o + R_EXT_PORT]}, outside the pool`)
      }
    }
    if (valid !== this.active) out.push(`${valid} valid records but ${this.active} sessions counted`)
    if (portOf.size !== this.mappings) out.push(`${portOf.size} inside endpoints mapped but ${this.mappings} mappings counted`)
    for (const [name, pool] of [['tcp', this.pools.tcp], ['udp', this.pools.udp], ['icmp', this.pools.icmp]] as const) {
      const proto = name === 'tcp' ? _IPPROTO_TCP : name === 'udp' ? _IPPROTO_UDP : _IPPROTO_ICMP
      let inUse = 0
      for (const k of mappingOf.keys()) if (k.startsWith(`${proto}/`)) inUse++
      let owned = 0
      for (let p = pool.low; p <= pool.high; p++) if (pool.owns(p)) owned++
      if (pool.size + inUse !== owned) out.push(`${name} pool: ${pool.size} free + ${inUse} mapped != ${owned} ports`)
    }
    return out
  }
}

/** The longest any session may live past its last packet: a resumed expiry beyond it is garbage. */
function maxTimeout(t: Timeouts): number {
  return Math.max(t.tcpEstablished, t.tcpTransitory, t.udp, t.udpUnreplied, t.icmp)
}
