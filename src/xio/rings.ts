// An endpoint's side of its four rings, in JavaScript: rx, tx, malloc and free move a burst
// with loads and stores on the region's view and one Atomics operation per ring index, and no
// native call (a node-addon-api call with a typed array costs ~200 ns here, several times the
// work of a burst). The protocol is native/endpoint.cc's, entry for entry, so either side can
// serve an endpoint at any moment: the C++ one stays for native ports (afpacket) and for the
// slow paths here (sleeping, waiting for a dry pool); the manager trusts neither.
//
// Entries are u64 (native/layout.h Entry), read and written here as two u32 words:
//   low:  buffer index (bits 0-15), length (16-31); a mark: the mark word
//   high: TX, the folded flow hash (0-15), the packed action (16-30); RX, the sender instead
//         of the hash; bit 31, kEntryMark
import { asXioError } from './errors.ts'
import { addon, layout, type NativeEndpoint } from './native.ts'
import type { RegionView } from './region-view.ts'

const L = layout
// Offsets and kinds as constants, not property loads on the layout object in the hot loops.
const META_LENGTH = L.meta.length
const META_IN_PORT = L.meta.inPort
const META_PREV = L.meta.prev
const META_ACTION = L.meta.action
const META_FLOW_HASH = L.meta.flowHash
const META_TIMESTAMP = L.meta.timestamp
const META_TRACE = L.meta.trace
const MAX_GATES = L.maxGates
const MAX_SERVICES = L.maxServices
const ACTION_GATE = L.action.gate
const ACTION_TO = L.action.to
const ACTION_DROP = L.action.drop
const DROP_CONSUMED = L.dropConsumed
const DROP_AS_SHIFT = L.dropAsShift
const ACTION_LOST = L.action.lost
const MARK = 0x80000000
const MARK_RX = 0x40000000
const MARK_VALUE = 0x3fffffff
const ENTRY_MARK_HIGH = 0x80000000 // kEntryMark, bit 63, in the high word
const NO_INDEX = 0xffff
const ACTION_GATE_OF = L.action.gateOf
const ACTION_TO_INSTANCE = L.action.toInstance
const MAX_INSTANCE_NUMBER = L.maxInstanceNumber
const ACTION_INVALID = L.action.invalid << 12
const MALLOC_PATIENCE_MS = 2 // native/endpoint.cc kMallocPatienceNs

/** native/layout.h packAction: an action word packed into an entry's 15 bits. */
export function packAction(act: number): number {
  const kind = act >>> 24
  const arg = act & 0xffffff
  if (kind === ACTION_GATE) return arg < MAX_GATES ? (kind << 12) | arg : ACTION_INVALID
  if (kind === ACTION_TO) return arg < MAX_SERVICES ? (kind << 12) | arg : ACTION_INVALID
  if (kind === ACTION_DROP) return (kind << 12) | (arg >>> DROP_AS_SHIFT <= MAX_SERVICES ? arg : arg & DROP_CONSUMED)
  if (kind === ACTION_GATE_OF) {
    const service = arg >>> 8
    const gate = arg & 0xff
    return service < MAX_SERVICES && gate < MAX_GATES ? (kind << 12) | (service << 3) | gate : ACTION_INVALID
  }
  if (kind === ACTION_LOST) return arg <= MAX_GATES ? (kind << 12) | arg : ACTION_INVALID
  if (kind === ACTION_TO_INSTANCE) return arg >>> 6 < MAX_SERVICES && (arg & 0x1f) <= MAX_INSTANCE_NUMBER ? (kind << 12) | arg : ACTION_INVALID
  return ACTION_INVALID
}

/** native/layout.h unpackAction. */
export function unpackAction(packed: number): number {
  const kind = (packed >>> 12) & 7
  const arg = packed & 0xfff
  return ((kind << 24) | (kind === ACTION_GATE_OF ? ((arg >>> 3) << 8) | (arg & 7) : arg)) >>> 0
}

/** Word indices (into the region's u32 view) of one ring's two sides and its entries. */
class RingWords {
  readonly head: number
  readonly tail: number
  readonly cachedTail: number // the producer's
  readonly cachedHead: number // the consumer's
  readonly produced: number // RingProducer.enqueued (u64)
  readonly refused: number
  readonly producerBursts: number
  readonly consumed: number // RingConsumer.dequeued (u64)
  readonly consumerBursts: number
  readonly entries: number

  constructor(view: RegionView, slot: number, ring: 'rx' | 'tx' | 'alloc' | 'free') {
    const { producer, consumer } = view.ringSides(slot, ring)
    const P = L.ringProducer
    const C = L.ringConsumer
    this.head = (producer + P.head) >>> 2
    this.cachedTail = (producer + P.cachedTail) >>> 2
    this.produced = (producer + P.enqueued) >>> 2
    this.refused = (producer + P.refused) >>> 2
    this.producerBursts = (producer + P.bursts) >>> 2
    this.tail = (consumer + C.tail) >>> 2
    this.cachedHead = (consumer + C.cachedHead) >>> 2
    this.consumed = (consumer + C.dequeued) >>> 2
    this.consumerBursts = (consumer + C.bursts) >>> 2
    const size = view.header32('ringSize')
    const second = ring === 'alloc' || ring === 'free' ? size * L.entryBytes : 0
    const sideEntries = ring === 'rx' || ring === 'alloc'
      ? view.managerSideOffset(slot) + view.header32('managerEntries')
      : view.slotOffset(slot) + view.header32('endpointEntries')
    this.entries = (sideEntries + second) >>> 2
  }
}

export class EndpointRings {
  private readonly u32: Uint32Array
  private readonly u16: Uint16Array
  private readonly size: number
  private readonly mask: number
  private readonly cacheSize: number
  private readonly bufferCount: number
  private readonly base: number
  private readonly stride: number
  private readonly rxRing: RingWords
  private readonly txRing: RingWords
  private readonly allocRing: RingWords
  private readonly freeRing: RingWords
  private readonly managerSleeping: number
  private readonly roomWanted: number
  private readonly poolFree: number
  private readonly atShareWord: number
  private readonly mallocFails: number
  // The alloc and RX tails last announced by a mark on the TX and the free ring; -1: none yet
  // (a mark of the current tails is right whatever the native side announced before: at worst
  // one more than needed). Typed, one element kind for the hot path: a double holds any u32.
  private readonly markedTx = new Float64Array(2).fill(-1)
  private readonly markedFree = new Float64Array(2).fill(-1)

  constructor(view: RegionView, slot: number, private readonly service: number, private readonly native: NativeEndpoint) {
    this.u32 = view.u32
    this.u16 = view.u16
    this.size = view.header32('ringSize')
    this.mask = this.size - 1
    this.cacheSize = view.header32('cacheSize')
    this.bufferCount = view.bufferCount
    this.base = view.bufferBase
    this.stride = view.bufferStride
    this.rxRing = new RingWords(view, slot, 'rx')
    this.txRing = new RingWords(view, slot, 'tx')
    this.allocRing = new RingWords(view, slot, 'alloc')
    this.freeRing = new RingWords(view, slot, 'free')
    this.managerSleeping = L.header.managerSleeping >>> 2
    this.roomWanted = (view.managerSideOffset(slot) + L.managerSide.roomWanted) >>> 2
    this.poolFree = L.header.poolFree >>> 2
    this.atShareWord = (view.managerSideOffset(slot) + L.managerSide.atShare) >>> 2
    this.mallocFails = (view.slotOffset(slot) + L.endpointSide.counters + L.endpointCounters.mallocFails) >>> 2
  }

  /**
   * xio_rx: up to descs.length from the RX ring; writes each buffer's sender, action and length
   * from its entry, unless withMeta is false (discard: nothing will read them).
   */
  rx(descs: Uint32Array, withMeta = true): number {
    const u32 = this.u32
    const r = this.rxRing
    const tail = u32[r.tail]
    const k = this.available(r, tail, descs.length)
    if (k === 0) return 0
    const u16 = this.u16
    for (let i = 0; i < k; i++) {
      const e = r.entries + 2 * ((tail + i) & this.mask)
      const low = u32[e]
      const high = u32[e + 1]
      const d = low & 0xffff
      descs[i] = d
      if (!withMeta || d >= this.bufferCount) continue // the manager never sends one; never write past the pool
      const meta = this.base + d * this.stride
      u32[(meta + META_LENGTH) >>> 2] = low >>> 16
      u16[(meta + META_PREV) >>> 1] = high & 0xffff
      u32[(meta + META_ACTION) >>> 2] = unpackAction((high >>> 16) & 0x7fff)
    }
    this.consumed(r, tail, k)
    // A manager holding packets for this full ring, if asleep, waits for word that there is room.
    if (u32[this.roomWanted] !== 0) this.wakeManager()
    return k
  }

  /** xio_tx: descs[0, n) onto the TX ring, each entry packed from its buffer's metadata; returns how many went in. */
  tx(descs: Uint32Array, n: number): number {
    const k = this.publish(this.txRing, this.markedTx, descs, 0, n, true)
    if (k) this.wakeManager()
    return k
  }

  /** xio_malloc: fresh buffers into descs[0, n), their metadata reset; fewer only if the pool runs dry. */
  malloc(descs: Uint32Array, n: number): number {
    const u32 = this.u32
    const r = this.allocRing
    let got = this.takeFresh(descs, 0, n)
    const cached = (Atomics.load(u32, r.head) - u32[r.tail]) >>> 0
    // At its share, no refill comes: the manager is not woken for one (what this endpoint
    // gives back wakes it, and ends that).
    const atShare = u32[this.atShareWord] !== 0
    if ((got < n || cached < this.cacheSize / 2) && !atShare) this.wakeManager()
    if (got < n) {
      // The cache ran out: wait a little for the manager's refill while the pool has buffers
      // and this endpoint has not had its share of them (then no refill comes).
      const deadline = performance.now() + MALLOC_PATIENCE_MS
      while (got < n && u32[this.poolFree] !== 0 && !atShare && performance.now() < deadline) {
        addon.schedYield()
        got += this.takeFresh(descs, got, n - got)
      }
      add64(u32, this.mallocFails, n - got)
    }
    const u16 = this.u16
    for (let i = 0; i < got; i++) {
      const d = descs[i]
      if (d >= this.bufferCount) continue
      const meta = this.base + d * this.stride
      u32[(meta + META_LENGTH) >>> 2] = 0
      u16[(meta + META_IN_PORT) >>> 1] = this.service
      u16[(meta + META_PREV) >>> 1] = this.service
      u32[(meta + META_ACTION) >>> 2] = 0 // gate 0
      u32[(meta + META_FLOW_HASH) >>> 2] = 0
      u32[(meta + META_TIMESTAMP) >>> 2] = 0
      u32[(meta + META_TIMESTAMP + 4) >>> 2] = 0
      u32[(meta + META_TRACE) >>> 2] = 0 // a buffer that carried a traced packet starts untraced
    }
    return got
  }

  /**
   * Gives descs[0, n) back to the pool. A full free ring (the manager behind) is left to the
   * native free, which waits for room and tells a stopped manager from a slow one.
   */
  free(descs: Uint32Array, n: number): void {
    const done = this.publish(this.freeRing, this.markedFree, descs, 0, n, false)
    this.wakeManager()
    if (done === n) return
    try {
      this.native.free(descs.subarray(done, n))
    } catch (e) {
      throw asXioError(e)
    }
  }

  private wakeManager(): void {
    // Atomics.load orders after the ring's Atomics.store of head (both seq_cst), pairing with
    // the manager's flag-then-recheck before it sleeps (native/os.h wakeIfSleeping).
    if (Atomics.load(this.u32, this.managerSleeping) !== 0) this.native.wakeManager()
  }

  /** Entries the consumer may take from tail, at most max; reads the producer's line only when its cached view is short. */
  private available(r: RingWords, tail: number, max: number): number {
    const u32 = this.u32
    let avail = (u32[r.cachedHead] - tail) >>> 0
    if (avail < max || avail > this.size) {
      const head = Atomics.load(u32, r.head)
      u32[r.cachedHead] = head
      avail = (head - tail) >>> 0
    }
    if (avail > this.size) return 0 // a head no correct producer writes: take nothing
    return avail < max ? avail : max
  }

  private consumed(r: RingWords, tail: number, k: number): void {
    const u32 = this.u32
    Atomics.store(u32, r.tail, (tail + k) >>> 0)
    add64(u32, r.consumed, k)
    add64(u32, r.consumerBursts, 1)
  }

  private takeFresh(descs: Uint32Array, at: number, n: number): number {
    const u32 = this.u32
    const r = this.allocRing
    const tail = u32[r.tail]
    const k = this.available(r, tail, n)
    if (k === 0) return 0
    for (let i = 0; i < k; i++) descs[at + i] = u32[r.entries + 2 * ((tail + i) & this.mask)] & 0xffff
    this.consumed(r, tail, k)
    return k
  }

  /**
   * Publishes descs[from, from + n) on a TX or free ring, led by a mark for each of the alloc
   * and RX rings taken from since that ring's last marks (native Endpoint::publish).
   */
  private publish(r: RingWords, marked: Float64Array, descs: Uint32Array, from: number, n: number, withMeta: boolean): number {
    const u32 = this.u32
    const allocTail = u32[this.allocRing.tail]
    const rxTail = u32[this.rxRing.tail]
    const markAlloc = allocTail !== marked[0]
    const markRx = rxTail !== marked[1]
    const m = (markAlloc ? 1 : 0) + (markRx ? 1 : 0)
    const room = this.room(r, n + m)
    // Refusals are counted on a TX ring (the sender may drop or retry); a free is always retried.
    if (room <= m) {
      if (withMeta) add64(u32, r.refused, n)
      return 0
    }
    const k = n < room - m ? n : room - m
    const head = u32[r.head]
    let at = head
    if (markAlloc) {
      const e = r.entries + 2 * (at++ & this.mask)
      u32[e] = MARK | (allocTail & MARK_VALUE)
      u32[e + 1] = ENTRY_MARK_HIGH
    }
    if (markRx) {
      const e = r.entries + 2 * (at++ & this.mask)
      u32[e] = MARK | MARK_RX | (rxTail & MARK_VALUE)
      u32[e + 1] = ENTRY_MARK_HIGH
    }
    for (let i = 0; i < k; i++) {
      const d = descs[from + i]
      const e = r.entries + 2 * ((at + i) & this.mask)
      if (d >= this.bufferCount) {
        u32[e] = NO_INDEX // refused by the manager, never taken for another buffer
        u32[e + 1] = 0
      } else if (withMeta) {
        const meta = this.base + d * this.stride
        const length = u32[(meta + META_LENGTH) >>> 2]
        const hash = u32[(meta + META_FLOW_HASH) >>> 2]
        u32[e] = d | ((length > 0xffff ? 0xffff : length) << 16)
        u32[e + 1] = ((hash ^ (hash >>> 16)) & 0xffff) | (packAction(u32[(meta + META_ACTION) >>> 2]) << 16)
      } else {
        u32[e] = d
        u32[e + 1] = 0
      }
    }
    Atomics.store(u32, r.head, (head + m + k) >>> 0)
    add64(u32, r.produced, k)
    add64(u32, r.producerBursts, 1)
    if (withMeta && n > k) add64(u32, r.refused, n - k)
    marked[0] = allocTail
    marked[1] = rxTail
    return k
  }

  /** Room the producer may fill, reading the consumer's line only when the cached view says too little. */
  private room(r: RingWords, wanted: number): number {
    const u32 = this.u32
    const head = u32[r.head]
    let used = (head - u32[r.cachedTail]) >>> 0
    if (used > this.size || this.size - used < wanted) {
      const tail = Atomics.load(u32, r.tail)
      u32[r.cachedTail] = tail
      used = (head - tail) >>> 0
    }
    return used > this.size ? 0 : this.size - used
  }
}

/** Adds n to the u64 counter at word index w (little-endian halves): counters for observers. */
export function add64(u32: Uint32Array, w: number, n: number): void {
  const low = u32[w] + n
  if (low > 0xffffffff) {
    u32[w] = low - 0x100000000
    u32[w + 1] += 1
  } else {
    u32[w] = low
  }
}
