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
  state: 'free' | 'claiming' | 'active' | 'detaching'
  pid: number
  name: string
  service: number
  instance: number
  generation: number
  sleeping: boolean
  endpoint: { mallocFails: number; sleeps: number; wakesSent: number }
  route: {
    rxPackets: number
    rxBytes: number
    txPackets: number
    txBytes: number
    dropped: number
    noRoute: number
    freed: number
    wakes: number
    reclaimed: number
  }
  rings: Record<RingName, RingSnapshot>
  /** The NF's own counters, as it last published them. */
  nf: Record<string, number>
}

export interface ServiceSnapshot {
  id: number
  name: string
  instances: number
  deaths: number
  /** Gate number → endpoint id it leads to (absent gates are not wired). */
  routes: (number | null)[]
}

export interface ManagerSnapshot {
  pid: number
  tid: number
  sleeping: boolean
  loops: number
  busyLoops: number
  routed: number
  dropped: number
  noRoute: number
  sleeps: number
  wakeups: number
  reclaimed: number
  deaths: number
  poolDry: number
  held: number
  invalid: number
}

export interface PoolSnapshot {
  buffers: number
  bufferSize: number
  /** On the pool's free stack. */
  free: number
  /** Free, but parked in endpoints' alloc rings (their caches). */
  cached: number
  inUse: number
}

export interface RegionSnapshot {
  prefix: string
  time: number
  pool: PoolSnapshot
  manager: ManagerSnapshot
  services: ServiceSnapshot[]
  slots: SlotSnapshot[]
}

const slotStates = ['free', 'claiming', 'active', 'detaching'] as const
const ringNames: RingName[] = ['rx', 'tx', 'alloc', 'free']

export class RegionView {
  readonly bytes: Uint8Array
  readonly view: DataView
  readonly u32: Uint32Array
  readonly u16: Uint16Array
  readonly u64: BigUint64Array
  readonly bufferBase: number
  readonly bufferSize: number
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

  name(offset: number): string {
    const raw = this.bytes.subarray(offset, offset + L.nameLength)
    const end = raw.indexOf(0)
    return decoder.decode(end < 0 ? raw : raw.subarray(0, end))
  }

  slotOffset(slot: number): number {
    return Number(this.u64[L.header.slotsOffset / 8]) + this.header32('slotStride') * slot
  }

  ringOffset(slot: number, ring: RingName): number {
    const index = slot * L.ringsPerSlot + L.ring[ring]
    return Number(this.u64[L.header.ringsOffset / 8]) + this.header32('ringStride') * index
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

  routeOf(id: number, gate: number): number {
    const target = this.u16[(this.serviceOffset(id) + L.service.routes) / 2 + gate]
    return target === L.noService ? -1 : target
  }

  ring(slot: number, ring: RingName): RingSnapshot {
    const at = this.ringOffset(slot, ring)
    const head = this.u32[(at + L.ring.head) / 4]
    const tail = this.u32[(at + L.ring.tail) / 4]
    return {
      size: this.u32[(at + L.ring.size) / 4],
      used: (head - tail) >>> 0,
      enqueued: this.counter(at + L.ring.enqueued),
      dequeued: this.counter(at + L.ring.dequeued),
      refused: this.counter(at + L.ring.refused),
      enqueueBursts: this.counter(at + L.ring.enqueueBursts),
      dequeueBursts: this.counter(at + L.ring.dequeueBursts),
    }
  }

  slot(slot: number): SlotSnapshot {
    const at = this.slotOffset(slot)
    const ep = at + L.slot.endpoint
    const rt = at + L.slot.route
    const c = (base: number, group: Record<string, number>, field: string) => this.counter(base + group[field])
    const rings = {} as Record<RingName, RingSnapshot>
    for (const r of ringNames) rings[r] = this.ring(slot, r)
    return {
      slot,
      state: slotStates[this.u32[(at + L.slot.state) / 4]] ?? 'free',
      pid: this.u32[(at + L.slot.pid) / 4],
      name: this.name(at + L.slot.name),
      service: this.u16[(at + L.slot.service) / 2],
      instance: this.u16[(at + L.slot.instance) / 2],
      generation: this.u32[(at + L.slot.generation) / 4],
      sleeping: this.u32[(at + L.slot.sleeping) / 4] !== 0,
      endpoint: {
        mallocFails: c(ep, L.endpointCounters, 'mallocFails'),
        sleeps: c(ep, L.endpointCounters, 'sleeps'),
        wakesSent: c(ep, L.endpointCounters, 'wakesSent'),
      },
      route: {
        rxPackets: c(rt, L.routeCounters, 'rxPackets'),
        rxBytes: c(rt, L.routeCounters, 'rxBytes'),
        txPackets: c(rt, L.routeCounters, 'txPackets'),
        txBytes: c(rt, L.routeCounters, 'txBytes'),
        dropped: c(rt, L.routeCounters, 'dropped'),
        noRoute: c(rt, L.routeCounters, 'noRoute'),
        freed: c(rt, L.routeCounters, 'freed'),
        wakes: c(rt, L.routeCounters, 'wakes'),
        reclaimed: c(rt, L.routeCounters, 'reclaimed'),
      },
      rings,
      nf: this.nfCounters(slot),
    }
  }

  nfCounters(slot: number): Record<string, number> {
    const at = this.slotOffset(slot) + L.slot.nf
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
    const at = this.slotOffset(slot) + L.slot.nf
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
      sleeping: this.header32('managerSleeping') !== 0,
      loops: c('loops'),
      busyLoops: c('busyLoops'),
      routed: c('routed'),
      dropped: c('dropped'),
      noRoute: c('noRoute'),
      sleeps: c('sleeps'),
      wakeups: c('wakeups'),
      reclaimed: c('reclaimed'),
      deaths: c('deaths'),
      poolDry: c('poolDry'),
      held: c('held'),
      invalid: c('invalid'),
    }
  }

  services(): ServiceSnapshot[] {
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
      })
    }
    return out
  }

  pool(slots: SlotSnapshot[]): PoolSnapshot {
    const free = this.header32('poolFree')
    let cached = 0
    for (const s of slots) if (s.state === 'active') cached += s.rings.alloc.used
    return { buffers: this.bufferCount, bufferSize: this.bufferSize, free, cached, inUse: this.bufferCount - free - cached }
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
        if (this.u32[(this.slotOffset(s) + L.slot.state) / 4] !== L.slotState.active) continue
        const at = this.ringOffset(s, 'alloc')
        free += (this.u32[(at + L.ring.head) / 4] - this.u32[(at + L.ring.tail) / 4]) >>> 0
      }
      // Buffers the manager moved from the pool to a cache meanwhile were counted twice: again.
      if (this.header32('poolFree') === pool) return this.bufferCount - free
    }
  }

  /** Everything an observer shows, read without writing a byte of the region. */
  snapshot(): RegionSnapshot {
    const slots: SlotSnapshot[] = []
    for (let s = 0; s < this.slotCount; s++) slots.push(this.slot(s))
    return {
      prefix: this.prefix,
      time: performance.now(),
      pool: this.pool(slots),
      manager: this.manager(),
      services: this.services(),
      slots,
    }
  }
}
