// The router's neighbour table (its ARP cache) and the packets it holds while a neighbour is
// being resolved. An entry is a neighbour's IPv4 address and MAC in one of three states:
// INCOMPLETE (asked for with ARP, not answered yet: packets to it wait in its queue),
// REACHABLE (learned from ARP; expires unless confirmed) and STATIC (from the config; never
// expires, never overwritten by ARP, as `ip neigh add ... permanent`). What the states mean
// for timers and ARP is the router's (index.ts); this file keeps the records.
//
// Held packets are descriptor numbers, frame offsets and lengths, never Packet objects (the
// runner refills one object for every packet). Each neighbour's queue is a FIFO threaded
// through one preallocated pool of slots, so at most `maxHeld` packets are held in all and
// at most `maxHeldPerNeighbour` for one neighbour: an unanswered neighbour cannot take every
// buffer the chain has.
//
// All of it is preallocated typed arrays; the address index is a FlowIndex keyed by the
// address alone. Finding, learning and holding allocate nothing.

import { hash4 } from '../../packet/flow.ts'
import { FlowIndex } from '../lib/flow-index.ts'

export const NB_FREE = 0
export const NB_INCOMPLETE = 1
export const NB_REACHABLE = 2
export const NB_STATIC = 3

const NONE = -1

export class Neighbours {
  readonly ip: Int32Array
  /** Six bytes per entry. */
  readonly mac: Uint8Array
  readonly state: Uint8Array
  /** REACHABLE: when last confirmed; INCOMPLETE: when the last ARP request went out (ms). */
  readonly stamp: Float64Array
  /** INCOMPLETE: ARP requests sent so far. */
  readonly tries: Uint8Array
  /** One past the highest entry id ever used: timers scan [0, highWater). */
  highWater = 0
  active = 0
  /** New entries refused because the table was full. */
  refused = 0

  private readonly index: FlowIndex
  private readonly free: Int32Array
  private freeTop: number

  // Held packets: slot -> descriptor, frame offset, length, next slot of the same queue.
  readonly heldD: Int32Array
  readonly heldAt: Int32Array
  readonly heldLength: Int32Array
  private readonly heldNext: Int32Array
  private readonly heldFree: Int32Array
  private heldFreeTop: number
  /** Per entry: first and last slot of its queue (NONE if empty), and how many. */
  private readonly head: Int32Array
  private readonly tail: Int32Array
  readonly queued: Int32Array
  /** Packets held now, over all neighbours. */
  held = 0

  constructor(readonly capacity: number, readonly maxHeld: number, readonly maxHeldPerNeighbour: number) {
    this.ip = new Int32Array(capacity)
    this.mac = new Uint8Array(capacity * 6)
    this.state = new Uint8Array(capacity)
    this.stamp = new Float64Array(capacity)
    this.tries = new Uint8Array(capacity)
    this.index = new FlowIndex(capacity)
    this.free = new Int32Array(capacity)
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i
    this.freeTop = capacity
    this.heldD = new Int32Array(maxHeld)
    this.heldAt = new Int32Array(maxHeld)
    this.heldLength = new Int32Array(maxHeld)
    this.heldNext = new Int32Array(maxHeld)
    this.heldFree = new Int32Array(maxHeld)
    for (let i = 0; i < maxHeld; i++) this.heldFree[i] = maxHeld - 1 - i
    this.heldFreeTop = maxHeld
    this.head = new Int32Array(capacity).fill(NONE)
    this.tail = new Int32Array(capacity).fill(NONE)
    this.queued = new Int32Array(capacity)
  }

  /** The entry for an address, or -1. */
  find(ip: number): number {
    return this.index.find(ip, 0, 0, 0, hash4(ip, 0, 0, 0))
  }

  /** A new entry (the address must not have one), or -1 if the table is full (counted). */
  add(ip: number, state: number, now: number): number {
    if (this.freeTop === 0) {
      this.refused++
      return -1
    }
    const id = this.free[--this.freeTop]
    this.index.insert(ip, 0, 0, 0, hash4(ip, 0, 0, 0), id)
    this.ip[id] = ip
    this.state[id] = state
    this.stamp[id] = now
    this.tries[id] = 0
    if (id >= this.highWater) this.highWater = id + 1
    this.active++
    return id
  }

  /** Forgets an entry; its queue must be empty (taken or dropped by the caller first). */
  remove(id: number): void {
    const ip = this.ip[id]
    this.index.remove(ip, 0, 0, 0, hash4(ip, 0, 0, 0))
    this.state[id] = NB_FREE
    this.free[this.freeTop++] = id
    this.active--
  }

  setMac(id: number, b: Uint8Array, o: number): void {
    const m = id * 6
    for (let i = 0; i < 6; i++) this.mac[m + i] = b[o + i]
  }

  macEquals(id: number, b: Uint8Array, o: number): boolean {
    const m = this.mac
    const k = id * 6
    return m[k] === b[o] && m[k + 1] === b[o + 1] && m[k + 2] === b[o + 2] &&
      m[k + 3] === b[o + 3] && m[k + 4] === b[o + 4] && m[k + 5] === b[o + 5]
  }

  /** Writes the entry's MAC at b[o...]. */
  writeMac(id: number, b: Uint8Array, o: number): void {
    const m = this.mac
    const k = id * 6
    b[o] = m[k]
    b[o + 1] = m[k + 1]
    b[o + 2] = m[k + 2]
    b[o + 3] = m[k + 3]
    b[o + 4] = m[k + 4]
    b[o + 5] = m[k + 5]
  }

  /** Queues a packet behind the entry's others; false if its queue or the pool is full. */
  hold(id: number, d: number, at: number, length: number): boolean {
    if (this.heldFreeTop === 0 || this.queued[id] >= this.maxHeldPerNeighbour) return false
    const k = this.heldFree[--this.heldFreeTop]
    this.heldD[k] = d
    this.heldAt[k] = at
    this.heldLength[k] = length
    this.heldNext[k] = NONE
    if (this.tail[id] === NONE) this.head[id] = k
    else this.heldNext[this.tail[id]] = k
    this.tail[id] = k
    this.queued[id]++
    this.held++
    return true
  }

  /**
   * Takes the oldest packet off the entry's queue: its slot, whose heldD/heldAt/heldLength
   * stay readable until the next hold(); -1 if the queue is empty.
   */
  takeHeld(id: number): number {
    const k = this.head[id]
    if (k === NONE) return -1
    this.head[id] = this.heldNext[k]
    if (this.head[id] === NONE) this.tail[id] = NONE
    this.queued[id]--
    this.held--
    this.heldFree[this.heldFreeTop++] = k
    return k
  }
}
