// From region snapshots to what the dashboard shows. Rates are counter deltas over the real
// time between two snapshots (snapshot.time, not the refresh period, which timers stretch);
// a counter seen for the first time has no rate yet rather than a made-up one.
import { lossesOf, type RegionSnapshot, type RingSnapshot, type SlotSnapshot } from '../xio/index.ts'
import { countersByEndpoint } from '../xio/group-counters.ts'
import { DROP_REASON } from '../xio/nf-types.ts'
import { holdsItsShare } from '../xio/pool-share.ts'

/** The manager's reasons for an NF's losses, beside the NF's own (a router has a noRoute of its own). */
// No route: a gate that leads nowhere, an endpoint with no instance running, or (a NAT's
// handoff) the instance a packet was handed to, restarting.
export const MANAGER_NO_ROUTE = 'no route (manager)'
export const MANAGER_REFUSED = 'refused by the manager'
import { groupLabel, type Topology } from './topology.ts'

/**
 * `down`: an instance `top` expects and the region lacks (an observer cannot tell a restart
 * from a death). `at share`: it has its share of the pool, and is given no more (what is sent
 * to it waits): an NF that keeps packets, or one far behind.
 */
export type EndpointState = 'running' | 'sleeping' | 'at share' | 'detaching' | 'restarting' | 'dead' | 'down'

export interface EndpointRow {
  label: string
  endpoint: string
  state: EndpointState
  pid: number | null
  /** Per second; null when there is no earlier sample of this instance. */
  rx: number | null
  rxBits: number | null
  tx: number | null
  txBits: number | null
  drop: number | null
  rxTotal: number | null
  txTotal: number | null
  dropTotal: number | null
  /** The endpoint's restarts (all its instances'), on its first row; null on the others. */
  restarts: number | null
}

export interface RingRow {
  label: string
  ring: 'rx' | 'tx'
  used: number
  size: number
  /** Descriptors enqueued per second. */
  rate: number | null
  /** Descriptors refused because the ring was full: the sender kept them and retried. */
  full: number
  fullRate: number | null
  /** Descriptors enqueued per second, one sample per refresh, oldest first (at most RING_HISTORY). */
  history: number[]
}

/** Samples of each ring's rate kept for its sparkline. */
export const RING_HISTORY = 30

export interface PoolInfo {
  buffers: number
  free: number
  inUse: number
  /** Endpoints' mallocs that found their cache empty, and manager refills that found the pool dry. */
  allocFailures: number
}

export interface ManagerInfo {
  routed: number
  routedRate: number | null
  /** Share of polls that found work, over the last interval. */
  busy: number | null
  sleeping: boolean
  sleeps: number
  sleepRate: number | null
  wakeups: number
  wakeRate: number | null
  held: number
  /** Descriptors refused (not the sender's, or longer than a buffer): a faulty NF at work. */
  refused: number
  /** Endpoints cut off for breaking the ring protocol. */
  faults: number
  /** Capture taps in force (xio-chain capture), copies made for them, copies a slow reader lost. */
  taps: number
  captured: number
  captureLost: number
}

export interface NfInfo {
  label: string
  /** 'interface': an afpacket port's counters (kernel drops and the like). */
  kind: 'firewall' | 'nat' | 'interface' | 'other'
  counters: Record<string, number>
  rules?: string[]
}

export interface DashboardModel {
  /** The chain drawn: as its spec said when this was sampled (a reload may change it). */
  topology: Topology
  name: string
  prefix: string
  /** Seconds since the dashboard started watching. */
  watching: number
  endpoints: EndpointRow[]
  rings: RingRow[]
  pool: PoolInfo
  manager: ManagerInfo
  nfs: NfInfo[]
  /** Routed packets/s, one sample per refresh, oldest first, at most a minute's worth. */
  throughput: number[]
  /** The latest thing that happened to an NF process (exit, restart), if any. */
  event?: string
}

/** What the launcher knows of NF exits; `top` has only the region's death counts. */
export interface ExitRecord {
  count: number
  /** Whether the launcher said it would restart it after the last exit. */
  restarting: boolean
}

export interface Sample {
  snapshot: RegionSnapshot
  exits?: ReadonlyMap<string, ExitRecord>
  event?: string
}

const slotKey = (s: SlotSnapshot) => `${s.slot}/${s.generation}`

function delta(now: number, before: number | undefined, seconds: number): number | null {
  if (before === undefined || seconds <= 0) return null
  return Math.max(0, now - before) / seconds
}

const live = (s: SlotSnapshot) => s.state === 'active' || s.state === 'detaching'

/** Keeps the previous snapshot and a minute of throughput; turns each new sample into a model. */
export class Sampler {
  private prev: RegionSnapshot | null = null
  private prevSlots = new Map<string, SlotSnapshot>()
  private readonly history: number[] = []
  private started: number | null = null
  /** Each ring's recent rates, by slot, generation and ring; rings of slots gone are forgotten. */
  private ringRates = new Map<string, number[]>()
  private ringRatesNext = new Map<string, number[]>()
  /** Instances seen per endpoint: one that vanishes without a spec to say so is dead. */
  private readonly seen = new Map<string, number>()

  constructor(private topology: Topology, private readonly historyLength = 120) {}

  /** The chain as a reload left it: its endpoints, gates and instance counts from now on. */
  setTopology(topology: Topology): void {
    this.topology = topology
    this.seen.clear()
  }

  next(sample: Sample): DashboardModel {
    const s = sample.snapshot
    const prev = this.prev
    const seconds = prev ? (s.time - prev.time) / 1000 : 0
    const rate = (now: number, before: number | undefined) => delta(now, before, seconds)
    const m = s.manager

    const routedRate = prev ? rate(m.routed, prev.manager.routed) : null
    if (routedRate !== null) {
      this.history.push(routedRate)
      if (this.history.length > this.historyLength) this.history.shift()
    }
    const loops = prev ? m.loops - prev.manager.loops : 0
    const manager: ManagerInfo = {
      routed: m.routed,
      routedRate,
      busy: loops > 0 ? (m.busyLoops - prev!.manager.busyLoops) / loops : null,
      sleeping: m.sleeping,
      sleeps: m.sleeps,
      sleepRate: rate(m.sleeps, prev?.manager.sleeps),
      wakeups: m.wakeups,
      wakeRate: rate(m.wakeups, prev?.manager.wakeups),
      held: m.held,
      refused: m.invalid + m.oversize,
      faults: m.faults,
      taps: m.taps,
      captured: m.captured,
      captureLost: m.captureLost,
    }

    const endpoints: EndpointRow[] = []
    const rings: RingRow[] = []
    const nfs: NfInfo[] = []
    const slots = s.slots.filter(live)
    const deaths = new Map(s.services.map((x) => [x.name, x.deaths]))
    const byName = new Map(this.topology.endpoints.map((e) => [e.name, e]))
    for (const e of this.endpointOrder(s)) {
      // A placement group is one process per instance, attached as its first member: its row
      // is the group's, and its members' NF panels come from that process's slot.
      if (e.group !== undefined && !e.groupMembers) continue
      const mine = slots.filter((x) => x.name === e.name).sort((a, b) => a.instance - b.instance)
      const expected = Math.max(e.instances ?? 0, this.seen.get(e.name) ?? 0, mine.length)
      if (e.instances === undefined) this.seen.set(e.name, expected)
      const exits = sample.exits?.get(e.name)
      const restarts = exits?.count ?? deaths.get(e.name) ?? 0
      const labelOf = (name: string, instance: number) => (expected > 1 ? `${name}#${instance}` : name)
      const label = (instance: number) => labelOf(e.groupMembers ? groupLabel(e.group!, e.groupMembers) : e.name, instance)
      const first = endpoints.length
      for (const slot of mine) {
        const before = this.prevSlots.get(slotKey(slot))
        const r = slot.route, b = before?.route
        // As the stats lines count them: asked for, sent nowhere, refused by the manager, or lost with an instance.
        const drops = lossesOf(r)
        endpoints.push({
          label: label(slot.instance),
          endpoint: e.name,
          state: slot.state === 'detaching' ? 'detaching' : holdsItsShare(slot, s) ? 'at share' : slot.sleeping ? 'sleeping' : 'running',
          pid: slot.pid,
          rx: rate(r.rxPackets, b?.rxPackets),
          rxBits: rate(r.rxBytes * 8, b && b.rxBytes * 8),
          tx: rate(r.txPackets, b?.txPackets),
          txBits: rate(r.txBytes * 8, b && b.txBytes * 8),
          drop: rate(drops, b && lossesOf(b)),
          rxTotal: r.rxPackets,
          txTotal: r.txPackets,
          dropTotal: drops,
          restarts,
        })
        for (const ring of ['rx', 'tx'] as const) {
          const row = ringRow(label(slot.instance), ring, slot.rings[ring], before?.rings[ring], rate)
          row.history = this.ringHistory(`${slotKey(slot)}/${ring}`, row.rate)
          rings.push(row)
        }
        const byEndpoint = countersByEndpoint(slot.name, slot.nf)
        // The manager's reasons for an NF's losses join its own drop reasons in its panel. Not
        // for a group: the manager counts its one slot, and cannot say which member's gate it was.
        if (!e.isPort && e.group === undefined && byEndpoint.size <= 1 && (r.noRoute || r.invalid)) {
          const own = byEndpoint.get(slot.name) ?? {}
          if (r.noRoute) own[`${DROP_REASON}${MANAGER_NO_ROUTE}`] = r.noRoute
          if (r.invalid) own[`${DROP_REASON}${MANAGER_REFUSED}`] = r.invalid
          byEndpoint.set(slot.name, own)
        }
        for (const [name, counters] of byEndpoint) {
          const nf = byName.get(name) ?? e
          nfs.push({ label: labelOf(name, slot.instance), ...nfKind(nf.kind, counters), counters, rules: nf.rules })
        }
      }
      // Instances that should be there and are not, by number: between an exit and the restart,
      // or gone. The launcher (run) knows which; an observer (top) does not.
      const running = new Set(mine.map((slot) => slot.instance))
      for (let i = 0; i < expected; i++) {
        if (running.has(i)) continue
        endpoints.push({
          label: label(i),
          endpoint: e.name,
          state: !exits ? 'down' : exits.restarting ? 'restarting' : 'dead',
          pid: null,
          rx: null, rxBits: null, tx: null, txBits: null, drop: null,
          rxTotal: null, txTotal: null, dropTotal: null,
          restarts,
        })
      }
      // The count is the endpoint's, not an instance's: said once, on its first row.
      for (let i = first + 1; i < endpoints.length; i++) endpoints[i].restarts = null
      // So are what its instances that left counted (a restarted NF's, as the stats lines
      // include them): added to its first running row's totals, so its rows add up to the
      // endpoint's totals since the chain started.
      const firstRunning = endpoints.slice(first).find((row) => row.rxTotal !== null)
      const totals = s.services.find((x) => x.name === e.name)?.totals
      if (firstRunning && totals) {
        type Counts = typeof totals
        const live = (f: (r: Counts) => number) => mine.reduce((sum, slot) => sum + f(slot.route), 0)
        firstRunning.rxTotal! += Math.max(0, totals.rxPackets - live((r) => r.rxPackets))
        firstRunning.txTotal! += Math.max(0, totals.txPackets - live((r) => r.txPackets))
        firstRunning.dropTotal! += Math.max(0, lossesOf(totals) - live(lossesOf))
      }
    }

    let mallocFails = 0
    for (const slot of slots) mallocFails += slot.endpoint.mallocFails
    const pool: PoolInfo = {
      buffers: s.pool.buffers,
      free: s.pool.free + s.pool.cached,
      inUse: s.pool.inUse,
      allocFailures: mallocFails + m.poolDry,
    }

    this.prev = s
    this.prevSlots = new Map(s.slots.filter(live).map((x) => [slotKey(x), x]))
    this.ringRates = this.ringRatesNext
    this.ringRatesNext = new Map()
    this.started ??= s.time
    return {
      topology: this.topology,
      name: this.topology.name,
      prefix: s.prefix,
      watching: (s.time - this.started) / 1000,
      endpoints,
      rings,
      pool,
      manager,
      nfs,
      throughput: [...this.history],
      event: sample.event,
    }
  }

  // The topology's order (the spec's, or the region's declaration order); endpoints the region
  // has and the topology lacks go last, so nothing running is hidden.
  private endpointOrder(s: RegionSnapshot) {
    const order = [...this.topology.endpoints]
    const known = new Set(order.map((e) => e.name))
    for (const svc of s.services) if (!known.has(svc.name)) order.push({ name: svc.name, gates: 0 })
    return order
  }

  /** The ring's rates so far with this one added; carried to the next sample only if the ring is still there. */
  private ringHistory(key: string, rate: number | null): number[] {
    const history = [...(this.ringRates.get(key) ?? []), ...(rate === null ? [] : [rate])].slice(-RING_HISTORY)
    this.ringRatesNext.set(key, history)
    return history
  }
}

function ringRow(
  label: string,
  ring: 'rx' | 'tx',
  now: RingSnapshot,
  before: RingSnapshot | undefined,
  rate: (a: number, b: number | undefined) => number | null,
): RingRow {
  return {
    label,
    ring,
    used: Math.min(now.used, now.size),
    size: now.size,
    rate: rate(now.enqueued, before?.enqueued),
    full: now.refused,
    fullRate: rate(now.refused, before?.refused),
    history: [],
  }
}

// Counter names say what an NF is when the spec is not at hand (`top`).
function nfKind(kind: string | undefined, counters: Record<string, number>): { kind: NfInfo['kind'] } {
  if (kind === 'firewall' || (kind === undefined && 'defaultPackets' in counters)) return { kind: 'firewall' }
  if (kind === 'nat' || (kind === undefined && 'mappingsActive' in counters)) return { kind: 'nat' }
  if (kind === 'afpacket' || (kind === undefined && 'kernelDrops' in counters)) return { kind: 'interface' }
  return { kind: 'other' }
}
