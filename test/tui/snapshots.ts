// Fixed region snapshots for the dashboard's tests: the fw-nat chain (lan, wan ports; fw, nat
// NFs) at two instants one second apart, with counters chosen so every rate is known exactly.
import type { RegionSnapshot, RingSnapshot, RouteCounts, SlotSnapshot } from '../../src/xio/index.ts'
import type { Topology } from '../../src/tui/topology.ts'

export const fwNat: Topology = {
  name: 'fw-nat',
  fromSpec: true,
  endpoints: [
    { name: 'lan', kind: 'pcap', isPort: true, instances: 1, gates: 1 },
    { name: 'wan', kind: 'pcap', isPort: true, instances: 1, gates: 1 },
    { name: 'fw', kind: 'firewall', instances: 1, gates: 1, rules: ['web', 'web over TLS', 'DNS', 'ping'] },
    { name: 'nat', kind: 'nat', instances: 1, gates: 2 },
  ],
  links: [
    { from: 'lan', gate: 'out', to: 'fw' },
    { from: 'fw', gate: 'out', to: 'nat' },
    { from: 'nat', gate: 'outside', to: 'wan' },
    { from: 'wan', gate: 'out', to: 'nat' },
    { from: 'nat', gate: 'inside', to: 'lan' },
  ],
}

export function ring(used = 0, size = 1024, enqueued = 0, refused = 0): RingSnapshot {
  return { size, used, enqueued, dequeued: enqueued - used, refused, enqueueBursts: 0, dequeueBursts: 0 }
}

export interface SlotCounters {
  name: string
  service: number
  slot: number
  instance?: number
  generation?: number
  pid?: number
  sleeping?: boolean
  rx?: number
  rxBytes?: number
  tx?: number
  txBytes?: number
  dropped?: number
  noRoute?: number
  invalid?: number
  lost?: number
  rxRing?: RingSnapshot
  txRing?: RingSnapshot
  nf?: Record<string, number>
  mallocFails?: number
  /** Pool buffers it has (the pool's share is 4096). */
  buffers?: number
}

export function slot(c: SlotCounters): SlotSnapshot {
  return {
    slot: c.slot,
    state: 'active',
    pid: c.pid ?? 1000 + c.slot,
    name: c.name,
    service: c.service,
    instance: c.instance ?? 0,
    generation: c.generation ?? 1,
    capture: false,
    sleeping: c.sleeping ?? false,
    asleep: c.sleeping ? 1 : 0,
    buffers: c.buffers ?? 0,
    endpoint: { mallocFails: c.mallocFails ?? 0, sleeps: 0, wakesSent: 0, decided: 0 },
    route: {
      rxPackets: c.rx ?? 0,
      rxBytes: c.rxBytes ?? 0,
      txPackets: c.tx ?? 0,
      txBytes: c.txBytes ?? 0,
      dropped: c.dropped ?? 0,
      noRoute: c.noRoute ?? 0,
      freed: 0,
      wakes: 0,
      reclaimed: 0,
      lost: c.lost ?? 0,
      invalid: c.invalid ?? 0,
      captured: 0,
      captureLost: 0,
      consumed: 0,
    },
    rings: { rx: c.rxRing ?? ring(), tx: c.txRing ?? ring(), alloc: ring(16), free: ring() },
    nf: c.nf ?? {},
  }
}

export interface At {
  time: number
  slots: SlotCounters[]
  routed?: number
  loops?: number
  busyLoops?: number
  sleeps?: number
  wakeups?: number
  deaths?: Record<string, number>
  poolFree?: number
}

const serviceNames = ['lan', 'wan', 'fw', 'nat']

export function snapshot(at: At): RegionSnapshot {
  const slots = at.slots.map(slot)
  const cached = slots.reduce((a, s) => a + s.rings.alloc.used, 0)
  const free = at.poolFree ?? 8000
  return {
    prefix: 'fw-nat',
    time: at.time,
    pool: { buffers: 8192, bufferSize: 2048, free, cached, inUse: 8192 - free - cached, share: 4096 },
    manager: {
      pid: 1, tid: 2, sleeping: false,
      loops: at.loops ?? 0, busyLoops: at.busyLoops ?? 0, assistedLoops: 0, routed: at.routed ?? 0,
      dropped: 0, consumed: 0, noRoute: 0, sleeps: at.sleeps ?? 0, wakeups: at.wakeups ?? 0,
      reclaimed: 0, lost: 0, deaths: 0, poolDry: 0, held: 0, invalid: 0, oversize: 0, faults: 0,
      captured: 0, captureLost: 0, taps: 0,
    },
    services: serviceNames.map((name, id) => ({
      id,
      name,
      instances: slots.filter((s) => s.name === name).length,
      deaths: at.deaths?.[name] ?? 0,
      routes: [null],
      totals: sumOfRoutes(slots.filter((s) => s.name === name)),
    })),
    slots,
  }
}

/** One second of fw-nat at 20k packets/s of 64-byte frames, rings filling to known levels. */
export const before = snapshot({
  time: 10_000,
  routed: 100_000,
  loops: 1000,
  busyLoops: 100,
  sleeps: 10,
  wakeups: 10,
  slots: [
    { name: 'lan', service: 0, slot: 0, tx: 50_000, txBytes: 3_200_000, txRing: ring(0, 1024, 50_000) },
    { name: 'wan', service: 1, slot: 1, rx: 40_000, rxBytes: 2_560_000, rxRing: ring(0, 1024, 40_000) },
    { name: 'fw', service: 2, slot: 2, rx: 50_000, rxBytes: 3_200_000, tx: 45_000, txBytes: 2_880_000, dropped: 5_000, rxRing: ring(0, 1024, 50_000) },
    { name: 'nat', service: 3, slot: 3, rx: 45_000, rxBytes: 2_880_000, tx: 40_000, txBytes: 2_560_000, rxRing: ring(0, 1024, 45_000) },
  ],
})

export const after = snapshot({
  time: 11_000,
  routed: 160_000,
  loops: 2000,
  busyLoops: 850,
  sleeps: 12,
  wakeups: 15,
  poolFree: 7000,
  slots: [
    { name: 'lan', service: 0, slot: 0, tx: 70_000, txBytes: 4_480_000, txRing: ring(100, 1024, 70_000), mallocFails: 3 },
    { name: 'wan', service: 1, slot: 1, rx: 60_000, rxBytes: 3_840_000, rxRing: ring(1000, 1024, 60_000, 2_500) },
    {
      name: 'fw', service: 2, slot: 2, rx: 70_000, rxBytes: 4_480_000, tx: 63_000, txBytes: 4_032_000, dropped: 7_000, sleeping: true,
      rxRing: ring(600, 1024, 70_000),
      nf: { 'rules/0/packets': 63_000, 'rules/0/bytes': 4_032_000, 'rules/3/packets': 12, defaultPackets: 7_000, cacheHits: 99, cacheMisses: 1 },
    },
    {
      name: 'nat', service: 3, slot: 3, rx: 63_000, rxBytes: 4_032_000, tx: 60_000, txBytes: 3_840_000, rxRing: ring(512, 1024, 63_000),
      nf: { mappingsActive: 64, sessionsActive: 64, sessionsCreated: 64, sessionsExpired: 0, translatedOut: 60_000, translatedIn: 0, 'drop/portsExhausted': 0 },
    },
  ],
})

/** A service's totals as the region adds them up; these fakes have no past instances, so the live ones' sum. */
function sumOfRoutes(slots: SlotSnapshot[]): RouteCounts {
  // An endpoint with no slot now has every count at 0, not none.
  const sum = Object.fromEntries(Object.keys(slot({ name: '', service: 0, slot: 0 }).route).map((k) => [k, 0])) as unknown as RouteCounts
  for (const s of slots) for (const k of Object.keys(sum) as (keyof RouteCounts)[]) sum[k] += s.route[k]
  return sum
}
