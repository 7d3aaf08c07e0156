// Connection tracking for the stateful firewall, the part of netfilter's conntrack that
// `ct state established,related accept` needs: a table of flows a rule let through, found
// from either direction, each with an idle timeout that follows its state (flow-state.ts).
// Keys are canonical (lower address end first), so one lookup serves both directions.
// Non-first fragments carry no ports; a first fragment let through records its IP id so the
// rest of its datagram follows it, as reassembly before conntrack would give in Linux.
// IPv6 flows share the table: their keys hold the ids AddressIds gives their addresses
// (exact, so no two flows share a key) and a bit of their own; ICMPv6 echo identifiers play
// the part of ICMP's. There are two ids per entry, so ids never run out before entries do;
// they cost about as much memory again as the table itself.
//
// The entries, and the addresses their IPv6 ids stand for, live in the firewall's state
// (env.state), which outlives the process: a firewall restarted finds every tracked flow and
// rebuilds the index and free lists from them. ../lib/state.ts says why an entry can be
// trusted whenever the writer died: `valid` is stored last when an entry is made, first when
// it goes.

import { hash4 } from '../../packet/flow.ts'
import type { Headers } from '../../packet/headers.ts'
import { IPPROTO_ICMP } from '../../packet/ipv4.ts'
import { IPPROTO_ICMPV6 } from '../../packet/ipv6.ts'
import { icmpIsQuery, icmpIsRequest } from '../../packet/icmp.ts'
import { icmpv6IsQuery, icmpv6IsRequest } from '../../packet/icmpv6.ts'
import { AddressIds } from '../lib/address-ids.ts'
import { FlowIndex } from '../lib/flow-index.ts'
import { FLOW_CLOSING, FLOW_NEW, flowTimeout, nextFlowState, type Timeouts } from '../lib/flow-state.ts'
import { float64s, int32s, StateLayout, storeValid, uint8s } from '../lib/state.ts'

/** Marks a fragment key apart from any flow key (protocols are 0..255). */
const FRAGMENT = 0x100
/** Marks an IPv6 key, whose first two words are address ids rather than IPv4 addresses. */
const IPV6 = 0x200
/** Linux ipfrag_time: how long the rest of a datagram may take to follow its first fragment. */
const FRAGMENT_TIMEOUT_MS = 30_000

/** Names the state's layout (env.state's tag, with the capacity): change it with the layout. */
export const CONNTRACK_STATE_TAG = 'xio-chain conntrack v1'
/** The state's header: int32 word 0 is 1 once used; float64 1, the clock at the last tick. */
const H_STARTED = 0
const F_CLOCK = 1
const HEADER_BYTES = 64

/** Where a table of `capacity` entries lays out its state. */
function stateLayout(capacity: number) {
  const l = new StateLayout()
  const at = {
    header: l.int32(HEADER_BYTES / 4),
    valid: l.uint8(capacity),
    state: l.uint8(capacity),
    origLow: l.uint8(capacity),
    ka: l.int32(capacity),
    kb: l.int32(capacity),
    kc: l.int32(capacity),
    kd: l.int32(capacity),
    expires: l.float64(capacity),
    addresses: l.int32(2 * capacity * 4),
  }
  return { at, bytes: l.bytes }
}

/** Bytes of state a table of `capacity` entries takes. */
export function conntrackStateBytes(capacity: number): number {
  return stateLayout(capacity).bytes
}

export class Conntrack {
  readonly index: FlowIndex
  /** Flows that could not be tracked because the table was full. */
  full = 0
  /** Flows forgotten after their idle timeout. */
  expired = 0
  /** Flows found in the state when it was opened, and entries dropped then (expired, or contradicting another). */
  readonly resumed: number = 0
  readonly dropped: number = 0
  /** What a resumed firewall adds to its clock so it carries on from where the state's left off. */
  readonly clockOffset: number
  // In the state: each entry's valid word, key, state, direction and expiry.
  private readonly valid: Uint8Array
  private readonly ka: Int32Array
  private readonly kb: Int32Array
  private readonly kc: Int32Array
  private readonly kd: Int32Array
  private readonly state: Uint8Array
  /** 1 if the flow's originator is the lower end of its canonical key. */
  private readonly origLow: Uint8Array
  private readonly expires: Float64Array
  private readonly header: Int32Array
  private readonly clock: Float64Array
  // Derived, in the process's own memory: rebuilt from the valid entries.
  private readonly hash: Int32Array
  private readonly free: Int32Array
  private freeTop: number
  private readonly ids: AddressIds
  private sweepAt = 0
  /** Set by key(): whether the packet goes from the lower end to the higher. */
  private low = false
  private a = 0
  private b = 0
  private c = 0
  private d = 0

  /**
   * A table of `capacity` entries over `memory` (conntrackStateBytes(capacity) bytes, zeroed or
   * as a firewall left it); `now` is the NF's clock. Flows found there are resumed.
   */
  constructor(readonly capacity: number, private readonly timeouts: Timeouts,
    memory: ArrayBuffer = new ArrayBuffer(conntrackStateBytes(capacity)), now = 0) {
    const { at, bytes } = stateLayout(capacity)
    if (memory.byteLength < bytes) throw new RangeError(`conntrack state of ${memory.byteLength} bytes: ${capacity} entries need ${bytes}`)
    this.header = int32s(memory, at.header, HEADER_BYTES / 4)
    this.clock = float64s(memory, at.header, HEADER_BYTES / 8)
    this.valid = uint8s(memory, at.valid, capacity)
    this.state = uint8s(memory, at.state, capacity)
    this.origLow = uint8s(memory, at.origLow, capacity)
    this.ka = int32s(memory, at.ka, capacity)
    this.kb = int32s(memory, at.kb, capacity)
    this.kc = int32s(memory, at.kc, capacity)
    this.kd = int32s(memory, at.kd, capacity)
    this.expires = float64s(memory, at.expires, capacity)
    this.index = new FlowIndex(capacity)
    this.hash = new Int32Array(capacity)
    this.free = new Int32Array(capacity)
    this.freeTop = 0
    this.ids = new AddressIds(2 * capacity, int32s(memory, at.addresses, 2 * capacity * 4))
    const started = this.header[H_STARTED] === 1
    this.clockOffset = started ? Math.max(0, this.clock[F_CLOCK] - now) : 0
    this.header[H_STARTED] = 1
    let resumed = 0, dropped = 0
    const longest = Math.max(FRAGMENT_TIMEOUT_MS, ...Object.values(timeouts))
    for (let id = 0; id < capacity; id++) {
      if (this.resumeOne(id, now + this.clockOffset, longest)) resumed++
      else {
        if (this.valid[id] !== 0) {
          storeValid(this.valid, id, 0)
          dropped++
        }
        this.expires[id] = -1
      }
    }
    for (let id = capacity - 1; id >= 0; id--) if (this.valid[id] === 0) this.free[this.freeTop++] = id
    this.ids.freeUnadopted()
    this.resumed = resumed
    this.dropped = dropped
    this.saveClock(now + this.clockOffset)
  }

  /** Notes the clock (the firewall calls it each tick), for a firewall that resumes this state. */
  saveClock(now: number): void {
    this.clock[F_CLOCK] = now
  }

  /** Takes a valid entry of the state back into the index, as ../lib/state.ts says; false to drop it. */
  private resumeOne(id: number, now: number, longestTimeout: number): boolean {
    if (this.valid[id] !== 1) return false
    const e = this.expires[id]
    if (!(e > now)) return false
    // Timeouts shortened since (a reload): none lives longer than the longest of them now.
    if (e > now + longestTimeout) this.expires[id] = now + longestTimeout
    if (this.state[id] > FLOW_CLOSING || this.origLow[id] > 1) return false
    const a = this.ka[id], b = this.kb[id], c = this.kc[id], d = this.kd[id]
    if ((d & ~(0xff | FRAGMENT | IPV6)) !== 0) return false
    if ((d & IPV6) !== 0) {
      if (!this.ids.adopt(a)) return false
      if (!this.ids.adopt(b)) {
        this.ids.release(a)
        return false
      }
    }
    const hash = hash4(a, b, c, d)
    if (this.index.find(a, b, c, d, hash) >= 0) {
      if ((d & IPV6) !== 0) {
        this.ids.release(a)
        this.ids.release(b)
      }
      return false
    }
    this.index.insert(a, b, c, d, hash, id)
    this.hash[id] = hash
    return true
  }

  get active(): number {
    return this.index.size
  }

  /** Canonical key of a flow given as (src, dst, proto, srcPort, dstPort) into this.a..d. */
  private key(src: number, dst: number, proto: number, sp: number, dp: number): void {
    const low = (src ^ 0x80000000) < (dst ^ 0x80000000) || (src === dst && sp <= dp)
    this.low = low
    this.a = low ? src : dst
    this.b = low ? dst : src
    this.c = low ? (sp << 16) | dp : (dp << 16) | sp
    this.d = proto
  }

  /** Loads the key of a parsed packet; false if it is not one conntrack follows by itself. */
  private packetKey(h: Headers): boolean {
    if (h.l4 < 0) {
      this.key(h.src, h.dst, h.proto | FRAGMENT, h.ipId, 0)
      return true
    }
    if (h.hasPorts) this.key(h.src, h.dst, h.proto, h.srcPort, h.dstPort)
    else if (h.proto === IPPROTO_ICMP) {
      if (!icmpIsQuery(h.icmpType)) return false
      this.key(h.src, h.dst, h.proto, h.icmpId, h.icmpId)
    } else this.key(h.src, h.dst, h.proto, 0, 0)
    return true
  }

  /** Loads the key of a parsed IPv6 packet whose addresses have ids s and d; false as packetKey. */
  private packetKey6(h: Headers, s: number, d: number): boolean {
    if (h.l4 < 0) this.key(s, d, h.proto | FRAGMENT | IPV6, h.ipId >>> 16, h.ipId & 0xffff)
    else if (h.hasPorts) this.key(s, d, h.proto | IPV6, h.srcPort, h.dstPort)
    else if (h.proto === IPPROTO_ICMPV6) {
      if (!icmpv6IsQuery(h.icmpType)) return false
      this.key(s, d, h.proto | IPV6, h.icmpId, h.icmpId)
    } else this.key(s, d, h.proto | IPV6, 0, 0)
    return true
  }

  /** True if the IPv4 packet belongs to a tracked flow (either direction); refreshes that flow. */
  established(h: Headers, now: number): boolean {
    return this.packetKey(h) && this.refresh(h, now, false)
  }

  /** established() for an IPv6 packet: an address without an id is in no tracked flow. */
  established6(h: Headers, now: number): boolean {
    const s = this.ids.find(h.src6)
    if (s < 0) return false
    const d = this.ids.find(h.dst6)
    return d >= 0 && this.packetKey6(h, s, d) && this.refresh(h, now, true)
  }

  /** Finds the loaded key's flow and refreshes it with the packet; false if untracked or expired. */
  private refresh(h: Headers, now: number, v6: boolean): boolean {
    const hash = hash4(this.a, this.b, this.c, this.d)
    const id = this.index.find(this.a, this.b, this.c, this.d, hash)
    if (id < 0) return false
    if (this.expires[id] <= now) {
      this.release(id)
      return false
    }
    if (h.l4 < 0) return true
    const reply = this.low !== (this.origLow[id] === 1)
    const st = nextFlowState(this.state[id], h.proto, reply, h.tcpFlags)
    this.state[id] = st
    this.expires[id] = now + flowTimeout(this.timeouts, h.proto, st)
    if (h.moreFragments) {
      if (v6) this.insert6(h, true, now + FRAGMENT_TIMEOUT_MS, 0)
      else this.trackFragments(h, now)
    }
    return true
  }

  /** Lets the later fragments of this first fragment's datagram follow it. */
  private trackFragments(h: Headers, now: number): void {
    this.key(h.src, h.dst, h.proto | FRAGMENT, h.ipId, 0)
    this.insert(h.proto, FLOW_NEW, now + FRAGMENT_TIMEOUT_MS, 0)
  }

  /** True if the packet is an ICMP error about a tracked flow (ct state related). */
  related(q: Headers, now: number): boolean {
    if (q.hasPorts) this.key(q.src, q.dst, q.proto, q.srcPort, q.dstPort)
    else if (q.proto === IPPROTO_ICMP && q.l4 >= 0 && icmpIsQuery(q.icmpType)) this.key(q.src, q.dst, q.proto, q.icmpId, q.icmpId)
    else return false
    return this.live(now)
  }

  /** related() for an ICMPv6 error's quoted packet (parseQuoted6). */
  related6(q: Headers, now: number): boolean {
    const s = this.ids.find(q.src6)
    if (s < 0) return false
    const d = this.ids.find(q.dst6)
    if (d < 0) return false
    if (q.hasPorts) this.key(s, d, q.proto | IPV6, q.srcPort, q.dstPort)
    else if (q.proto === IPPROTO_ICMPV6 && q.l4 >= 0 && icmpv6IsQuery(q.icmpType)) this.key(s, d, q.proto | IPV6, q.icmpId, q.icmpId)
    else return false
    return this.live(now)
  }

  /** True if the loaded key's flow is tracked and not expired. */
  private live(now: number): boolean {
    const id = this.index.find(this.a, this.b, this.c, this.d, hash4(this.a, this.b, this.c, this.d))
    return id >= 0 && this.expires[id] > now
  }

  /** Starts tracking a packet's flow that a rule (or the default policy) let through. */
  track(h: Headers, now: number): void {
    if (!this.packetKey(h)) return
    if (h.proto === IPPROTO_ICMP && h.l4 >= 0 && !icmpIsRequest(h.icmpType)) return
    if (h.l4 < 0) return // a lone later fragment opens nothing
    this.insert(h.proto, FLOW_NEW, now + flowTimeout(this.timeouts, h.proto, FLOW_NEW), h.tcpFlags)
    if (h.moreFragments) this.trackFragments(h, now)
  }

  /** track() for an IPv6 packet. */
  track6(h: Headers, now: number): void {
    if (h.l4 < 0) return // a lone later fragment opens nothing
    if (h.proto === IPPROTO_ICMPV6 && !icmpv6IsRequest(h.icmpType)) return
    this.insert6(h, false, now + flowTimeout(this.timeouts, h.proto, FLOW_NEW), h.tcpFlags)
    if (h.moreFragments) this.insert6(h, true, now + FRAGMENT_TIMEOUT_MS, 0)
  }

  /** Tracks an IPv6 packet's flow, or (fragments) the rest of its packet; the entry holds its address ids. */
  private insert6(h: Headers, fragments: boolean, expires: number, tcpFlags: number): void {
    const s = this.ids.acquire(h.src6)
    const d = s < 0 ? -1 : this.ids.acquire(h.dst6)
    if (d < 0) {
      if (s >= 0) this.ids.release(s)
      this.full++
      return
    }
    if (fragments) this.key(s, d, h.proto | FRAGMENT | IPV6, h.ipId >>> 16, h.ipId & 0xffff)
    else this.packetKey6(h, s, d)
    if (!this.insert(h.proto, FLOW_NEW, expires, tcpFlags)) {
      this.ids.release(s)
      this.ids.release(d)
    }
  }

  /** Adds the loaded key unless it is there already; false if it was not added. */
  private insert(proto: number, state: number, expires: number, tcpFlags: number): boolean {
    const hash = hash4(this.a, this.b, this.c, this.d)
    if (this.index.find(this.a, this.b, this.c, this.d, hash) >= 0) return false
    if (this.freeTop === 0) {
      this.full++
      return false
    }
    const id = this.free[--this.freeTop]
    this.index.insert(this.a, this.b, this.c, this.d, hash, id)
    this.ka[id] = this.a
    this.kb[id] = this.b
    this.kc[id] = this.c
    this.kd[id] = this.d
    this.hash[id] = hash
    this.origLow[id] = this.low ? 1 : 0
    this.state[id] = nextFlowState(state, proto, false, tcpFlags)
    this.expires[id] = expires
    storeValid(this.valid, id, 1)  // last: the entry is whole
    return true
  }

  private release(id: number): void {
    storeValid(this.valid, id, 0)  // first: its address ids may be freed and reused below
    this.index.remove(this.ka[id], this.kb[id], this.kc[id], this.kd[id], this.hash[id])
    if ((this.kd[id] & IPV6) !== 0) {
      this.ids.release(this.ka[id])
      this.ids.release(this.kb[id])
    }
    this.expires[id] = -1
    this.free[this.freeTop++] = id
    this.expired++
  }

  /** Expires idle flows, a slice of the table per call so a sweep never stalls the data path. */
  sweep(now: number, slice: number): void {
    const cap = this.capacity
    for (let k = 0; k < slice && k < cap; k++) {
      const id = this.sweepAt
      this.sweepAt = id + 1 === cap ? 0 : id + 1
      const e = this.expires[id]
      if (e >= 0 && e <= now) this.release(id)
    }
  }

  /** Expires every idle flow; returns when the next of those left expires (Infinity: none left). */
  sweepAll(now: number): number {
    this.sweep(now, this.capacity)
    let soonest = Infinity
    for (let id = 0; id < this.capacity; id++) {
      const e = this.expires[id]
      if (e >= 0 && e < soonest) soonest = e
    }
    return soonest
  }

  /** The tracked flows as canonical keys with their state, for tests and tools (allocates). */
  list(): { key: [number, number, number, number]; state: number; origLow: number; expires: number }[] {
    const out = []
    for (let id = 0; id < this.capacity; id++) {
      if (this.valid[id] !== 1) continue
      out.push({ key: [this.ka[id], this.kb[id], this.kc[id], this.kd[id]] as [number, number, number, number], state: this.state[id], origLow: this.origLow[id], expires: this.expires[id] })
    }
    return out
  }

  /** What is wrong between the entries and what was derived from them (for tests): nothing, always. */
  problems(): string[] {
    const out: string[] = []
    let valid = 0
    for (let id = 0; id < this.capacity; id++) {
      if (this.valid[id] !== 1) continue
      valid++
      const found = this.index.find(this.ka[id], this.kb[id], this.kc[id], this.kd[id], hash4(this.ka[id], this.kb[id], this.kc[id], this.kd[id]))
      if (found !== id) out.push(`entry ${id} is not found by its key (found ${found})`)
    }
    if (valid !== this.index.size) out.push(`${valid} valid entries but ${this.index.size} indexed`)
    if (valid + this.freeTop !== this.capacity) out.push(`${valid} valid entries and ${this.freeTop} free of ${this.capacity}`)
    return out
  }
}
