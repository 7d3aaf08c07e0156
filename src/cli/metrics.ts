// Every counter of a running chain in the Prometheus text format (prom-client), read from the
// region at each scrape: per endpoint instance, per ring, the pool, the manager, and each NF's
// own counters. `run --metrics <port>` serves the chain it runs; `metrics --prefix P --listen
// <port>` serves one running elsewhere, attached read-only. Nothing is kept between scrapes
// but the last snapshot, so a scrape costs one read of the region and the data path never
// waits for it.
import { createServer, type Server } from 'node:http'
import { Counter, Gauge, Registry } from 'prom-client'
import type { RegionSnapshot, RingName, RouteCounts, SlotSnapshot } from '../xio/index.ts'
import { DROP_REASON } from '../xio/nf-types.ts'
import { countersByEndpoint } from '../xio/group-counters.ts'
import { groupLabel } from '../tui/topology.ts'

type Labels = Record<string, string | number>
type Metric = Counter<string> | Gauge<string>


/**
 * A chain's metrics; `text()` reads a fresh snapshot and renders all of them. `groups` are the
 * chain's placement groups (name → members, as its spec says; none known: none labelled). A
 * group's process is one slot serving every member, named after the first: its series are
 * labelled as the dashboard names its row, `endpoint="edge(fw+nat)"`, and `group="edge"`, so
 * what the group carries is never read as its first member's; each member's own counters
 * (xio_nf_*) go under the member's name, with the group's label.
 */
export class ChainMetrics {
  readonly registry = new Registry()
  private snapshot: RegionSnapshot | undefined

  constructor(private readonly read: () => RegionSnapshot, groups: ReadonlyMap<string, readonly string[]> = new Map()) {
    const groupOf = new Map([...groups].map(([group, members]) => [members[0], { group, row: groupLabel(group, members) }]))
    const grouped = new Set([...groups.values()].flat())
    const slots = () => this.snapshot!.slots.filter((s) => s.state !== 'free')
    /** An endpoint's labels: its name, or its group's row and name for a group's process. */
    const perEndpoint = (name: string): Labels => {
      const g = groupOf.get(name)
      return g ? { endpoint: g.row, group: g.group } : { endpoint: name }
    }
    const perSlot = (s: SlotSnapshot): Labels => ({ ...perEndpoint(s.name), instance: s.instance, slot: s.slot })
    const endpoint = (name: string, help: string, value: (s: SlotSnapshot) => number, type: 'counter' | 'gauge' = 'counter') =>
      this.family(type, `xio_endpoint_${name}`, help, ['endpoint', 'group', 'instance', 'slot'], () => slots().map((s) => [perSlot(s), value(s)]))

    endpoint('rx_packets_total', 'Packets the manager delivered to the endpoint.', (s) => s.route.rxPackets)
    endpoint('rx_bytes_total', 'Bytes the manager delivered to the endpoint.', (s) => s.route.rxBytes)
    endpoint('tx_packets_total', 'Packets the endpoint sent on.', (s) => s.route.txPackets)
    endpoint('tx_bytes_total', 'Bytes the endpoint sent on.', (s) => s.route.txBytes)
    endpoint('dropped_total', 'Packets the endpoint asked to drop (its reasons: xio_nf_drops_total).', (s) => s.route.dropped)
    endpoint('consumed_total', 'Packets that ended at the endpoint, as they were meant to (ARP a router learnt from): freed, no loss.', (s) => s.route.consumed)
    endpoint('no_route_total', 'Packets sent through a gate that leads nowhere, or to an endpoint with no live instance.', (s) => s.route.noRoute)
    endpoint('invalid_total', 'Descriptors the endpoint sent or freed that were not its own, or longer than a buffer: refused.', (s) => s.route.invalid)
    endpoint('reclaimed_total', 'Buffers taken back from the endpoint when it left or died.', (s) => s.route.reclaimed)
    endpoint('lost_total', 'Of those, packets: sent by it and held for a full receiver, in its RX ring, or in its hands (its cache\'s free buffers apart).', (s) => s.route.lost)
    endpoint('wakes_total', 'Times the manager woke the endpoint.', (s) => s.route.wakes)
    endpoint('malloc_failures_total', 'Allocations that found the pool dry, or the endpoint holding its share of it.', (s) => s.endpoint.mallocFails)
    endpoint('buffers', 'Pool buffers the endpoint has: its cache, its RX ring and its hands (at most its share: half the pool, unless the pool is small); a capture endpoint, its copies.', (s) => s.buffers, 'gauge')
    endpoint('sleeps_total', 'Times the endpoint slept waiting for packets.', (s) => s.endpoint.sleeps)
    endpoint('up', 'Whether the manager serves the endpoint (0: detaching or cut off for a fault).', (s) => (s.state === 'active' ? 1 : 0), 'gauge')

    // The same per endpoint over all its instances, past ones included: no reset when an NF
    // restarts, so rate() over them needs no reset handling and sums stay exact.
    // A group's totals are its first member's service's (the slot's); the other members have no
    // slot of their own, so no totals to show.
    const services = () => this.snapshot!.services.filter((x) => groupOf.has(x.name) || !grouped.has(x.name))
    const service = (name: string, help: string, value: (t: RouteCounts) => number) =>
      this.family('counter', `xio_service_${name}`, `${help} Over every instance the endpoint has had.`, ['endpoint', 'group'], () => services().map((x) => [perEndpoint(x.name), value(x.totals)]))
    service('rx_packets_total', 'Packets the manager delivered to the endpoint.', (t) => t.rxPackets)
    service('tx_packets_total', 'Packets the endpoint sent on.', (t) => t.txPackets)
    service('dropped_total', 'Packets the endpoint asked to drop.', (t) => t.dropped)
    service('consumed_total', 'Packets that ended at the endpoint, as they were meant to.', (t) => t.consumed)
    service('no_route_total', 'Packets the endpoint sent that had nowhere to go.', (t) => t.noRoute)
    service('invalid_total', 'Descriptors of the endpoint refused as not its own or over-long.', (t) => t.invalid)
    service('reclaimed_total', 'Buffers taken back from its instances that left or died.', (t) => t.reclaimed)
    service('lost_total', 'Packets lost with its instances that left or died: sent and held for a full receiver, in their RX rings, or in their hands.', (t) => t.lost)
    this.family('counter', 'xio_service_deaths_total', 'Instances of the endpoint that died without detaching.', ['endpoint', 'group'], () => services().map((x) => [perEndpoint(x.name), x.deaths]))

    const ringNames: RingName[] = ['rx', 'tx', 'alloc', 'free']
    const ring = (name: string, help: string, value: (s: SlotSnapshot, r: RingName) => number, type: 'counter' | 'gauge') =>
      this.family(type, `xio_ring_${name}`, help, ['endpoint', 'group', 'instance', 'slot', 'ring'], () =>
        slots().flatMap((s) => ringNames.map((r): [Labels, number] => [{ ...perSlot(s), ring: r }, value(s, r)])),
      )
    ring('used', 'Descriptors in the ring now.', (s, r) => s.rings[r].used, 'gauge')
    ring('size', 'Descriptors the ring holds.', (s, r) => s.rings[r].size, 'gauge')
    ring('enqueued_total', 'Descriptors put on the ring.', (s, r) => s.rings[r].enqueued, 'counter')
    ring('refused_total', 'Descriptors offered to the full ring and refused: backpressure, the sender keeps and retries them.', (s, r) => s.rings[r].refused, 'counter')

    // A placement group's slot holds each member's counters: each goes to its own endpoint.
    const nfCounters = (drops: boolean) => () =>
      slots().flatMap((s) =>
        [...countersByEndpoint(s.name, s.nf)].flatMap(([endpoint, counters]) =>
          Object.entries(counters)
            .filter(([name]) => name.startsWith(DROP_REASON) === drops)
            .map(([name, value]): [Labels, number] => [{ ...perSlot(s), endpoint, [drops ? 'reason' : 'name']: drops ? name.slice(DROP_REASON.length) : name }, value]),
        ),
      )
    this.family('counter', 'xio_nf_drops_total', 'Packets the NF dropped, by its reason.', ['endpoint', 'group', 'instance', 'slot', 'reason'], nfCounters(true))
    this.family('gauge', 'xio_nf_value', 'The NF\'s own counters, by name, as it last published them (about twice a second).', ['endpoint', 'group', 'instance', 'slot', 'name'], nfCounters(false))

    const pool = (name: string, help: string, value: (s: RegionSnapshot) => number) => this.family('gauge', `xio_pool_${name}`, help, [], () => [[{}, value(this.snapshot!)]])
    pool('buffers', 'Packet buffers in the pool.', (s) => s.pool.buffers)
    pool('free_buffers', 'Buffers on the pool\'s free stack.', (s) => s.pool.free)
    pool('cached_buffers', 'Free buffers parked in endpoints\' alloc rings.', (s) => s.pool.cached)
    pool('in_use_buffers', 'Buffers holding packets (in rings, endpoints or NFs).', (s) => s.pool.inUse)

    const manager = (name: string, help: string, value: (m: RegionSnapshot['manager']) => number, type: 'counter' | 'gauge' = 'counter') =>
      this.family(type, `xio_manager_${name}`, help, [], () => [[{}, value(this.snapshot!.manager)]])
    manager('routed_total', 'Descriptors the manager routed.', (m) => m.routed)
    manager('loops_total', 'Passes of the manager\'s loop.', (m) => m.loops)
    manager('busy_loops_total', 'Passes that moved at least one descriptor.', (m) => m.busyLoops)
    manager('assisted_loops_total', 'Passes made by a thread of the manager\'s process waiting on its CPU (a port beside it), not by its own thread.', (m) => m.assistedLoops)
    manager('sleeps_total', 'Times the manager slept for lack of work.', (m) => m.sleeps)
    manager('wakeups_total', 'Times the manager was woken.', (m) => m.wakeups)
    manager('dropped_total', 'Packets the manager freed because an endpoint asked it to drop them (losses; consumed ones apart).', (m) => m.dropped)
    manager('consumed_total', 'Packets the manager freed because an endpoint said they ended where they were meant to (a router\'s ARP): no loss.', (m) => m.consumed)
    manager('no_route_total', 'Packets with nowhere to go: a gate not linked, or an endpoint with no live instance.', (m) => m.noRoute)
    manager('invalid_total', 'Descriptors refused: not the sender\'s own, or longer than a buffer.', (m) => m.invalid)
    manager('oversize_total', 'Descriptors whose length exceeded a buffer.', (m) => m.oversize)
    manager('held_total', 'Descriptors the manager held back, in order, for endpoints whose RX rings were full (delivered once there is room; none lost).', (m) => m.held)
    manager('faults_total', 'Endpoints cut off for breaking the ring protocol.', (m) => m.faults)
    manager('deaths_total', 'Endpoint processes that died holding a slot.', (m) => m.deaths)
    manager('reclaimed_total', 'Buffers reclaimed from endpoints that left or died.', (m) => m.reclaimed)
    manager('lost_total', 'Of those, packets lost with them (sent and held for a full receiver, in their RX rings, or in their hands).', (m) => m.lost)
    manager('pool_dry_total', 'Times the pool had no buffer to refill an alloc ring.', (m) => m.poolDry)
    manager('capture_copies_total', 'Copies made for capture endpoints (xio-chain capture).', (m) => m.captured)
    manager('capture_lost_total', 'Copies capture taps called for and not made: a reader slower than the chain, or copies over their share of the pool or of a manager poll (the chain\'s packets are never held for one).', (m) => m.captureLost)
    manager('capture_taps', 'Capture taps in force (0: no capture attached, no copies made).', (m) => m.taps, 'gauge')
  }

  /** The Prometheus text exposition of a fresh snapshot. */
  async text(): Promise<string> {
    this.snapshot = this.read()
    return this.registry.metrics()
  }

  /** The same families from a fresh snapshot, as JSON: name → type, help and labelled samples. */
  async json(): Promise<Record<string, { type: string; help: string; samples: Array<{ labels: Labels; value: number }> }>> {
    this.snapshot = this.read()
    const families = await this.registry.getMetricsAsJSON()
    return Object.fromEntries(families.map((f) => [f.name, { type: String(f.type), help: f.help, samples: f.values.map((v) => ({ labels: v.labels as Labels, value: v.value })) }]))
  }

  get contentType(): string {
    return this.registry.contentType
  }

  private family(type: 'counter' | 'gauge', name: string, help: string, labelNames: string[], samples: () => Array<[Labels, number]>): Metric {
    // Values are the region's, set at each scrape: reset, then each sample as it is now.
    const collect = function (this: Metric) {
      this.reset()
      for (const [labels, value] of samples()) {
        if (this instanceof Counter) this.inc(labels, value)
        else this.set(labels, value)
      }
    }
    const options = { name, help, labelNames, registers: [this.registry], collect }
    return type === 'counter' ? new Counter(options) : new Gauge(options)
  }
}

/** Serves `metrics.text()` at /metrics on host:port; resolves once listening. */
export function serveMetrics(metrics: ChainMetrics, listen: { host: string; port: number }): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '/').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n')
      return
    }
    metrics.text().then(
      (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (e: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}

/** `[host:]port` as --listen takes it; the host defaults to loopback. */
export function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(text)
  const port = m ? Number(m[2]) : NaN
  if (!m || port < 1 || port > 65535) return null
  return { host: m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port }
}
