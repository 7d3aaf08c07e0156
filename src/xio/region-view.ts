// Typed access to a mapped region from TypeScript: where each structure lives and how to read
// its counters. All offsets come from the addon's layout export (native/layout.h), never
// from numbers written here.
import { layout } from './native.ts'

const L = layout
const decoder = new TextDecoder()
const encoder = new TextEncoder()

export type RingName = 'rx' | 'tx' | 'alloc' | 'free'

export interface RingSnapshot {
  size: number
  used: number
  enqueued: number
  dequeued: number
  refused: number
  enqueueBursts: number
  dequeueBursts: number
}

export interface SlotSnapshot {
  slot: number
  /** As the manager serves it; faulted: cut off for breaking the ring protocol, until its process lets go. */
  /** waiting: claimed for an instance number a live instance has (taken on once that one goes). */
  state: 'free' | 'active' | 'detaching' | 'faulted' | 'waiting'
  pid: number
  name: string
  service: number
  /** Which instance of its endpoint the manager serves it as (flows are spread by these numbers). */
  instance: number
  generation: number
  /** A capture endpoint (`xio-chain capture`): no service of the chain; it receives copies. */
  capture: boolean
  sleeping: boolean
  /** Threads of the endpoint asleep on its RX ring now (rxWait, readable). */
  asleep: number
  /**
   * Pool buffers it has (its cache, its RX ring, its hands), as the manager counts them; a
   * capture endpoint, its copies. With its fellow instances', never more than half the pool
   * (in a small pool, a full ring and cache and 1,024 more): past that it gets no more, and
   * what is sent to it waits, as for a full RX ring.
   */
  buffers: number
  endpoint: { mallocFails: number; sleeps: number; wakesSent: number; decided: number }
  route: RouteCounts
  rings: Record<RingName, RingSnapshot>
  /** The NF's own counters, as it last published them. */
  nf: Record<string, number>
}

/** What the manager counted for an endpoint (one slot's occupant, or a service's totals). */
export interface RouteCounts {
    rxPackets: number
    rxBytes: number
    txPackets: number
    txBytes: number
    dropped: number
    noRoute: number
    freed: number
    wakes: number
    reclaimed: number
    /** Of those, packets: sent by it and held for a full receiver, in its RX ring, or in its hands when it died or left (its cache's free buffers, a capture's copies: none). */
    lost: number
    /** Descriptors it sent or freed that were not its own, or longer than a buffer: refused. */
    invalid: number
    /** A capture endpoint: copies put in its RX ring. */
    captured: number
    /** A capture endpoint: copies its taps called for that it did not get (it was slower than the chain). */
    captureLost: number
    /** Packets it consumed (CONSUMED: they ended there, as ARP a router learnt from): freed, no loss. */
    consumed: number
}

/**
 * Packets an endpoint lost, as the stats lines and the dashboard count drops: those it asked to
 * drop, sent nowhere, or had refused, and those that died with an instance of it.
 */
export function lossesOf(r: RouteCounts): number {
  return r.dropped + r.noRoute + r.invalid + r.lost
}

export interface ServiceSnapshot {
  id: number
  name: string
  instances: number
  deaths: number
  /** Gate number → endpoint id it leads to (absent gates are not wired). */
  routes: (number | null)[]
  /** Everything counted for the endpoint since the chain started: its instances now and every one before (restarted, died). */
  totals: RouteCounts
}

export interface ManagerSnapshot {
  pid: number
  tid: number
  sleeping: boolean
  loops: number
  busyLoops: number
  /** Of the loops, passes made by a thread of the manager's process waiting on its CPU (a port beside it) rather than by the manager's own thread. */
  assistedLoops: number
  routed: number
  /** Packets endpoints asked it to drop (losses), and freed as it stopped. */
  dropped: number
  /** Packets endpoints said ended where they were meant to (a router's ARP): freed, no loss. */
  consumed: number
  noRoute: number
  sleeps: number
  wakeups: number
  reclaimed: number
  /** Of those, packets lost with the endpoints that held them (RouteCounts.lost). */
  lost: number
  deaths: number
  poolDry: number
  held: number
  invalid: number
  oversize: number
  /** Endpoints cut off for breaking the ring protocol. */
  faults: number
  /** Copies made for capture endpoints. */
  captured: number
  /** Copies taps called for and not made or not delivered (a capture reader slower than the chain). */
  captureLost: number
  /** Taps in force now: 0 when no capture is attached. */
  taps: number
}

export interface PoolSnapshot {
  buffers: number
  bufferSize: number
  /** On the pool's free stack. */
  free: number
  /** Free, but parked in endpoints' alloc rings (their caches). */
  cached: number
  inUse: number
  /** The most buffers one endpoint may have, all its instances together (its share: half the pool, unless the pool is small); see SlotSnapshot.buffers. */
  share: number
}

export interface RegionSnapshot {
  prefix: string
  time: number
  pool: PoolSnapshot
  manager: ManagerSnapshot
  services: ServiceSnapshot[]
  slots: SlotSnapshot[]
}

const slotStates: Record<number, SlotSnapshot['state']> = { [L.slotState.free]: 'free', [L.slotState.active]: 'active', [L.slotState.detaching]: 'detaching', [L.slotState.faulted]: 'faulted', [L.slotState.waiting]: 'waiting' }
const ringNames: RingName[] = ['rx', 'tx', 'alloc', 'free']
const routeCountNames: (keyof RouteCounts)[] = [
  'rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'dropped', 'noRoute', 'freed', 'wakes', 'reclaimed', 'lost', 'invalid', 'captured', 'captureLost', 'consumed',
]

export class RegionView {
  readonly bytes: Uint8Array
  readonly view: DataView
  readonly u32: Uint32Array
  readonly u16: Uint16Array
  readonly u64: BigUint64Array
  readonly bufferBase: number
  /** Bytes a buffer holds (metadata, headroom, packet). */
  readonly bufferSize: number
  /** Bytes from one buffer to the next: bufferSize padded to an odd number of cache lines (native/layout.h bufferStrideOf). */
  readonly bufferStride: number
  readonly bufferCount: number
  readonly dataOffset: number
  readonly slotCount: number

  constructor(readonly prefix: string, readonly buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer)
    this.view = new DataView(buffer)
    this.u32 = new Uint32Array(buffer)
    this.u16 = new Uint16Array(buffer)
    this.u64 = new BigUint64Array(buffer)
    this.bufferBase = this.header32('buffersOffset')
    this.bufferSize = this.header32('bufferSize')
    this.bufferStride = this.header32('bufferStride')
    this.bufferCount = this.header32('bufferCount')
    this.dataOffset = this.header32('dataOffset')
    this.slotCount = this.header32('slotCount')
  }

  header32(field: string): number {
    return this.u32[L.header[field] / 4]
  }

  counter(offset: number): number {
    return Number(this.u64[offset / 8])
  }

  /** Whether any capture or trace is attached (the manager's taps in force): a word, read per burst. */
  tapsInForce(): boolean {
    return this.u32[(L.header.manager + L.managerCounters.taps) >>> 2] !== 0
  }

  name(offset: number): string {
    const raw = this.bytes.subarray(offset, offset + L.nameLength)
    const end = raw.indexOf(0)
    return decoder.decode(end < 0 ? raw : raw.subarray(0, end))
  }

  /** The chain spec the region runs (the one it was made for, or the last reload's), or '' if none was recorded. */
  chainFile(): string {
    const at = L.header.chainFile
    // Copied between two equal, even versions: a reload may be writing another path meanwhile
    // (a few stores; a launcher killed in the middle leaves it odd: no path, as none recorded).
    for (let tries = 0; tries < 1000; tries++) {
      const version = this.chainFileVersion()
      if (version % 2 !== 0) continue // no copy while a write is under way, or was left half-done
      const raw = this.bytes.slice(at, at + L.chainFileLength)
      if (this.chainFileVersion() === version) {
        const end = raw.indexOf(0)
        return decoder.decode(end < 0 ? raw : raw.subarray(0, end))
      }
    }
    return ''
  }

  /** Changes each time a reload records another spec: an observer that read names from the last one reads them again. */
  chainFileVersion(): number {
    return Atomics.load(this.u32, L.header.chainFileVersion >>> 2)
  }

  /** The page every endpoint may write (the claims counter). */
  get doorbellOffset(): number {
    return Number(this.u64[L.header.doorbellOffset / 8])
  }

  /** Where a slot's endpoint side starts (its manager side is at managerSideOffset from it). */
  slotOffset(slot: number): number {
    return Number(this.u64[L.header.slotsOffset / 8]) + this.header32('slotStride') * slot
  }

  managerSideOffset(slot: number): number {
    return this.slotOffset(slot) + this.header32('managerSideOffset')
  }

  /** Producer and consumer sides of a ring: RX and alloc are produced by the manager, TX and free by the endpoint. */
  ringSides(slot: number, ring: RingName): { producer: number; consumer: number } {
    const endpoint = this.slotOffset(slot) + L.endpointSide[ring]
    const manager = this.managerSideOffset(slot) + L.managerSide[ring]
    return ring === 'rx' || ring === 'alloc' ? { producer: manager, consumer: endpoint } : { producer: endpoint, consumer: manager }
  }

  serviceOffset(id: number): number {
    return Number(this.u64[L.header.servicesOffset / 8]) + L.service.size * id
  }

  /** Endpoint id of a declared name, or -1. */
  serviceId(name: string): number {
    for (let id = 0; id < L.maxServices; id++) {
      const at = this.serviceOffset(id)
      if (this.u32[(at + L.service.declared) / 4] && this.name(at + L.service.name) === name) return id
    }
    return -1
  }

  serviceName(id: number): string {
    return id >= 0 && id < L.maxServices ? this.name(this.serviceOffset(id) + L.service.name) : ''
  }

  /** The endpoint id a gate leads to; -1 if unwired or, for a moment in a reload, paused. */
  routeOf(id: number, gate: number): number {
    const target = this.u16[(this.serviceOffset(id) + L.service.routes) / 2 + gate]
    return target >= L.maxServices ? -1 : target
  }

  /**
   * Entries in the ring now, 0 to its size. The tail is read before the head: between a slot's
   * resets both only grow, so the head read later is never behind it, where the other order (a burst produced and
   * taken between the two reads) once gave a ring 4 billion entries deep. More than the size
   * only a faulty endpoint's index can make; it counts as full.
   */
  ringUsed(slot: number, ring: RingName): number {
    const { producer, consumer } = this.ringSides(slot, ring)
    const tail = Atomics.load(this.u32, (consumer + L.ringConsumer.tail) / 4)
    const used = (Atomics.load(this.u32, (producer + L.ringProducer.head) / 4) - tail) >>> 0
    return Math.min(used, this.header32('ringSize'))
  }

  ring(slot: number, ring: RingName): RingSnapshot {
    const { producer, consumer } = this.ringSides(slot, ring)
    const P = L.ringProducer, C = L.ringConsumer
    return {
      size: this.header32('ringSize'),
      used: this.ringUsed(slot, ring),
      enqueued: this.counter(producer + P.enqueued),
      dequeued: this.counter(consumer + C.dequeued),
      refused: this.counter(producer + P.refused),
      enqueueBursts: this.counter(producer + P.bursts),
      dequeueBursts: this.counter(consumer + C.bursts),
    }
  }

  /**
   * What a watchdog needs of a slot, read without a whole snapshot (which builds every ring's
   * and counter's object): whether it is served, as which endpoint id and instance number (the
   * manager's word, where the pid is the endpoint's own and may say anything), the packets
   * waiting on its RX ring, whether its TX ring is full, and the packets its NFs decided
   * (EndpointCounters, the endpoint's: a lie there only misleads about itself).
   */
  progress(slot: number): { active: boolean; service: number; instance: number; waiting: number; txFull: boolean; decided: number } {
    const at = this.slotOffset(slot)
    const ms = this.managerSideOffset(slot)
    return {
      active: this.u32[(ms + L.managerSide.state) / 4] === L.slotState.active,
      service: this.u16[(ms + L.managerSide.service) / 2],
      instance: this.u16[(ms + L.managerSide.instance) / 2],
      waiting: this.ringUsed(slot, 'rx'),
      txFull: this.ringUsed(slot, 'tx') >= this.header32('ringSize'),
      decided: this.counter(at + L.endpointSide.counters + L.endpointCounters.decided),
    }
  }

  slot(slot: number): SlotSnapshot {
    const at = this.slotOffset(slot)
    const ms = this.managerSideOffset(slot)
    const E = L.endpointSide
    const ep = at + E.counters
    const rt = ms + L.managerSide.route
    const c = (base: number, group: Record<string, number>, field: string) => this.counter(base + group[field])
    const rings = {} as Record<RingName, RingSnapshot>
    for (const r of ringNames) rings[r] = this.ring(slot, r)
    return {
      slot,
      state: slotStates[this.u32[(ms + L.managerSide.state) / 4]] ?? 'free',
      pid: this.u32[(at + E.pid) / 4],
      name: this.name(at + E.name),
      service: this.u16[(ms + L.managerSide.service) / 2],
      instance: this.u16[(ms + L.managerSide.instance) / 2],
      generation: this.u32[(at + E.generation) / 4],
      capture: this.u16[(ms + L.managerSide.service) / 2] === L.capture.service,
      sleeping: this.u32[(at + E.asleep) / 4] !== 0,
      asleep: this.u32[(at + E.asleep) / 4],
      buffers: this.u32[(ms + L.managerSide.buffers) / 4],
      endpoint: {
        mallocFails: c(ep, L.endpointCounters, 'mallocFails'),
        sleeps: c(ep, L.endpointCounters, 'sleeps'),
        wakesSent: c(ep, L.endpointCounters, 'wakesSent'),
        decided: c(ep, L.endpointCounters, 'decided'),
      },
      route: this.routeCounts(rt),
      rings,
      nf: this.nfCounters(slot),
    }
  }

  nfCounters(slot: number): Record<string, number> {
    const at = this.slotOffset(slot) + L.endpointSide.nf
    const N = L.nfCounters
    const count = Math.min(this.u32[(at + N.count) / 4], N.max)
    const out: Record<string, number> = {}
    for (let i = 0; i < count; i++) {
      const raw = this.bytes.subarray(at + N.names + i * N.nameLength, at + N.names + (i + 1) * N.nameLength)
      const end = raw.indexOf(0)
      out[decoder.decode(end < 0 ? raw : raw.subarray(0, end))] = this.view.getFloat64(at + N.values + i * 8, true)
    }
    return out
  }

  /**
   * Publishes an endpoint's own counters into its slot (the endpoint alone calls this). At most
   * nfCounters.max fit: the general ones first, then per-rule ones with the most packets.
   */
  publishNfCounters(slot: number, counters: Record<string, number>): void {
    const at = this.slotOffset(slot) + L.endpointSide.nf
    const N = L.nfCounters
    const entries = Object.entries(counters)
    const perRule = (name: string) => name.startsWith('rules/')
    const general = entries.filter(([name]) => !perRule(name))
    const rules = entries.filter(([name]) => perRule(name))
    const hits = (name: string) => counters[name.replace(/\/[^/]+$/, '/packets')] ?? 0
    rules.sort((a, b) => hits(b[0]) - hits(a[0]))
    const chosen = [...general, ...rules].slice(0, N.max)
    chosen.forEach(([name, value], i) => {
      const field = this.bytes.subarray(at + N.names + i * N.nameLength, at + N.names + (i + 1) * N.nameLength)
      field.fill(0)
      encoder.encodeInto(name.slice(0, N.nameLength - 1), field)
      this.view.setFloat64(at + N.values + i * 8, value, true)
    })
    this.u32[(at + N.count) / 4] = chosen.length
    this.u32[(at + N.updates) / 4]++
  }

  manager(): ManagerSnapshot {
    const at = L.header.manager
    const c = (field: string) => this.counter(at + L.managerCounters[field])
    return {
      pid: this.header32('managerPid'),
      tid: this.header32('managerTid'),
      sleeping: this.u32[L.header.managerSleeping / 4] !== 0,
      loops: c('loops'),
      busyLoops: c('busyLoops'),
      assistedLoops: c('assistedLoops'),
      routed: c('routed'),
      dropped: c('dropped'),
      consumed: c('consumed'),
      noRoute: c('noRoute'),
      sleeps: c('sleeps'),
      wakeups: c('wakeups'),
      reclaimed: c('reclaimed'),
      lost: c('lost'),
      deaths: c('deaths'),
      poolDry: c('poolDry'),
      held: c('held'),
      invalid: c('invalid'),
      oversize: c('oversize'),
      faults: c('faults'),
      captured: c('captured'),
      captureLost: c('captureLost'),
      taps: c('taps'),
    }
  }

  /** The RouteCounters at `base`. */
  private routeCounts(base: number): RouteCounts {
    const counts = {} as Record<keyof RouteCounts, number>
    for (const field of routeCountNames) counts[field] = this.counter(base + L.routeCounters[field])
    return counts
  }

  /**
   * A service's totals: what its past instances counted, and what its slots' occupants counted,
   * the one there now or the last (whose counts go to the totals only when another takes the
   * slot). With the slots of the same snapshot, their counts as read there, so an endpoint's
   * totals and its slots' counts agree however fast packets flow.
   */
  private serviceTotals(id: number, at: number, slots: SlotSnapshot[]): RouteCounts {
    const totals = this.routeCounts(at + L.service.left)
    for (const slot of slots) if (slot.service === id) for (const field of routeCountNames) totals[field] += slot.route[field]
    return totals
  }

  services(slots: SlotSnapshot[] = this.slots()): ServiceSnapshot[] {
    const out: ServiceSnapshot[] = []
    for (let id = 0; id < L.maxServices; id++) {
      const at = this.serviceOffset(id)
      if (!this.u32[(at + L.service.declared) / 4]) continue
      const routes: (number | null)[] = []
      for (let g = 0; g < L.maxGates; g++) {
        const r = this.routeOf(id, g)
        routes.push(r < 0 ? null : r)
      }
      out.push({
        id,
        name: this.name(at + L.service.name),
        instances: this.u32[(at + L.service.instances) / 4],
        deaths: this.counter(at + L.service.deaths),
        routes,
        totals: this.serviceTotals(id, at, slots),
      })
    }
    return out
  }

  pool(slots: SlotSnapshot[]): PoolSnapshot {
    const free = this.header32('poolFree')
    let cached = 0
    for (const s of slots) if (s.state === 'active') cached += s.rings.alloc.used
    // The rings and the pool are read at different moments, so a buffer that went round from an
    // alloc ring back to the pool in between counts twice: never below none in use.
    return { buffers: this.bufferCount, bufferSize: this.bufferSize, free, cached, inUse: Math.max(0, this.bufferCount - free - cached), share: this.header32('endpointShare') }
  }

  /**
   * Buffers out of the pool and out of every cache: in rings, in the manager's hands or in an
   * endpoint's. Zero means the chain has drained.
   */
  buffersInUse(): number {
    for (;;) {
      const pool = this.header32('poolFree')
      let free = pool
      for (let s = 0; s < this.slotCount; s++) {
        if (this.u32[(this.managerSideOffset(s) + L.managerSide.state) / 4] !== L.slotState.active) continue
        // Head before tail, unlike ringUsed: what the endpoint takes meanwhile counts as taken,
        // never as cached, so buffers in use are never under-said (a drain ending too soon).
        const { producer, consumer } = this.ringSides(s, 'alloc')
        const head = Atomics.load(this.u32, (producer + L.ringProducer.head) / 4)
        const cached = (head - Atomics.load(this.u32, (consumer + L.ringConsumer.tail) / 4)) | 0
        if (cached > 0) free += cached
      }
      // Buffers the manager moved from the pool to a cache meanwhile were counted twice: again.
      if (this.header32('poolFree') === pool) return this.bufferCount - free
    }
  }

  /** Everything an observer shows, read without writing a byte of the region. */
  slots(): SlotSnapshot[] {
    const slots: SlotSnapshot[] = []
    for (let s = 0; s < this.slotCount; s++) slots.push(this.slot(s))
    return slots
  }

  snapshot(): RegionSnapshot {
    // A service's totals are its past instances' counts plus its slots': read again if the
    // manager moved a slot's counts into them meanwhile (a restart), which a read across the
    // move would count twice, sending a Prometheus counter up and back down; or if it reset a
    // slot's rings (head stored 0 before the tail), which would read as a full ring.
    const moving = L.header.countsMoving / 4
    for (let tries = 1; ; tries++) {
      const before = Atomics.load(this.u32, moving)
      const slots = this.slots()
      const snapshot = {
        prefix: this.prefix,
        time: performance.now(),
        pool: this.pool(slots),
        manager: this.manager(),
        services: this.services(slots),
        slots,
      }
      if (((before & 1) === 0 && Atomics.load(this.u32, moving) === before) || tries === MAX_SNAPSHOT_TRIES) return snapshot
    }
  }
}

// A move takes the manager well under a microsecond; more tries than this mean it is restarting
// slots without pause, and a count read twice once is the lesser harm than an observer that hangs.
const MAX_SNAPSHOT_TRIES = 8
