import test from 'ava'
import { Sampler } from '../../src/tui/model.ts'
import { chainLines, topologyOfRegion } from '../../src/tui/topology.ts'
import { redrawn } from '../../src/tui/sources.ts'
import type { Topology } from '../../src/tui/topology.ts'
import { after, before, fwNat, snapshot } from './snapshots.ts'

test('rates are counter deltas over the snapshots\' real elapsed time', (t) => {
  const sampler = new Sampler(fwNat)
  const first = sampler.next({ snapshot: before })
  t.is(first.endpoints[0].rx, null, 'no rate before a second sample')
  t.is(first.manager.busy, null)
  const m = sampler.next({ snapshot: after })
  const fw = m.endpoints.find((e) => e.label === 'fw')!
  t.deepEqual(
    { rx: fw.rx, tx: fw.tx, drop: fw.drop, rxBits: fw.rxBits, txBits: fw.txBits, state: fw.state },
    { rx: 20_000, tx: 18_000, drop: 2_000, rxBits: 10_240_000, txBits: 9_216_000, state: 'sleeping' },
  )
  t.deepEqual([fw.rxTotal, fw.txTotal, fw.dropTotal], [70_000, 63_000, 7_000])
  t.is(m.manager.routedRate, 60_000)
  t.is(m.manager.busy, 0.75)
  t.is(m.manager.sleepRate, 2)
  t.is(m.manager.wakeRate, 5)
  t.deepEqual(m.throughput, [60_000])
  t.deepEqual(m.pool, { buffers: 8192, free: 7064, inUse: 1128, allocFailures: 3 })
})

test('an endpoint that has its share of the pool shows as at share, whatever else it does', (t) => {
  const hoarding = { ...after, slots: after.slots.map((s) => (s.name === 'nat' ? { ...s, buffers: after.pool.share, sleeping: true } : s)) }
  const m = new Sampler(fwNat).next({ snapshot: hoarding })
  t.is(m.endpoints.find((e) => e.label === 'nat')!.state, 'at share')
  t.is(m.endpoints.find((e) => e.label === 'fw')!.state, 'sleeping')
})

test('a refresh that comes late does not inflate rates', (t) => {
  const sampler = new Sampler(fwNat)
  sampler.next({ snapshot: before })
  const late = { ...after, time: before.time + 2000 }
  t.is(sampler.next({ snapshot: late }).manager.routedRate, 30_000)
})

test('rings: rx and tx per endpoint in spec order, with enqueue and refusal rates', (t) => {
  const sampler = new Sampler(fwNat)
  sampler.next({ snapshot: before })
  const rings = sampler.next({ snapshot: after }).rings
  t.deepEqual(
    rings.map((r) => `${r.label}.${r.ring}`),
    ['lan.rx', 'lan.tx', 'wan.rx', 'wan.tx', 'fw.rx', 'fw.tx', 'nat.rx', 'nat.tx'],
  )
  const wanRx = rings[2]
  t.deepEqual([wanRx.used, wanRx.size, wanRx.rate, wanRx.full, wanRx.fullRate], [1000, 1024, 20_000, 2_500, 2_500])
})

test('an instance that left: restarting while the launcher restarts it, dead otherwise', (t) => {
  const withoutFw = (s: typeof after) => ({ ...s, slots: s.slots.filter((x) => x.name !== 'fw') })
  const restarting = new Sampler(fwNat).next({
    snapshot: withoutFw(after),
    exits: new Map([['fw', { count: 2, restarting: true }]]),
  })
  const fw = restarting.endpoints.find((e) => e.endpoint === 'fw')!
  t.is(fw.state, 'restarting')
  t.is(fw.restarts, 2)
  t.is(fw.rx, null)
  const dead = new Sampler(fwNat).next({ snapshot: withoutFw(after), exits: new Map([['fw', { count: 6, restarting: false }]]) })
  t.is(dead.endpoints.find((e) => e.endpoint === 'fw')!.state, 'dead')
})

test('top: restarts are the region\'s deaths, and an instance seen then gone is down (an observer cannot tell a restart)', (t) => {
  const sampler = new Sampler(topologyOfRegion(before))
  sampler.next({ snapshot: before })
  const gone = snapshot({ time: 11_000, slots: [], deaths: { nat: 1 } })
  const m = sampler.next({ snapshot: gone })
  const nat = m.endpoints.find((e) => e.endpoint === 'nat')!
  t.deepEqual([nat.state, nat.restarts], ['down', 1])
})

test('the instance that is missing is named by its number, and an endpoint\'s restarts are said once, on its first row', (t) => {
  const three = { ...fwNat, endpoints: fwNat.endpoints.map((e) => (e.name === 'nat' ? { ...e, instances: 3 } : e)) }
  const nats = (instances: number[]) => snapshot({
    time: 1000,
    slots: instances.map((instance, i) => ({ name: 'nat', service: 3, slot: 3 + i, instance })),
    deaths: { nat: 4 },
  })
  const rows = new Sampler(three).next({ snapshot: nats([0, 2]) }).endpoints.filter((e) => e.endpoint === 'nat')
  t.deepEqual(rows.map((r) => [r.label, r.state, r.restarts]), [['nat#0', 'running', 4], ['nat#2', 'running', null], ['nat#1', 'down', null]])
})

test('an endpoint\'s totals include what its instances that left counted, on its first running row, so its rows add up to its totals as the stats lines give them', (t) => {
  const two = { ...fwNat, endpoints: fwNat.endpoints.map((e) => (e.name === 'nat' ? { ...e, instances: 2 } : e)) }
  const restarted = snapshot({
    time: 1000,
    slots: [{ name: 'nat', service: 3, slot: 3, instance: 0, rx: 100, tx: 90, dropped: 10 }, { name: 'nat', service: 3, slot: 4, instance: 1, rx: 50, tx: 50 }],
    deaths: { nat: 1 },
  })
  // What the dead instance counted before it left: in the service's totals, in no slot now.
  const withLeft = { ...restarted, services: restarted.services.map((x) => (x.name === 'nat' ? { ...x, totals: { ...x.totals, rxPackets: x.totals.rxPackets + 630, txPackets: x.totals.txPackets + 600, dropped: x.totals.dropped + 30 } } : x)) }
  const rows = new Sampler(two).next({ snapshot: withLeft }).endpoints.filter((e) => e.endpoint === 'nat')
  t.deepEqual(rows.map((r) => [r.label, r.rxTotal, r.txTotal, r.dropTotal]), [['nat#0', 730, 690, 40], ['nat#1', 50, 50, 0]])
})

test('a reload\'s topology: instances it removed are not expected any more', (t) => {
  const two = { ...fwNat, endpoints: fwNat.endpoints.map((e) => (e.name === 'fw' ? { ...e, instances: 2 } : e)) }
  const sampler = new Sampler(two)
  const one = snapshot({ time: 1000, slots: [{ name: 'fw', service: 2, slot: 2 }] })
  t.deepEqual(sampler.next({ snapshot: one }).endpoints.filter((e) => e.endpoint === 'fw').map((r) => [r.label, r.state]), [['fw#0', 'running'], ['fw#1', 'down']])
  sampler.setTopology(fwNat)
  const m = sampler.next({ snapshot: { ...one, time: 2000 } })
  t.deepEqual(m.endpoints.filter((e) => e.endpoint === 'fw').map((r) => [r.label, r.state]), [['fw', 'running']])
  t.is(m.topology, fwNat)
})

test('a restarted instance (new slot generation) has no rate until its second sample', (t) => {
  const sampler = new Sampler(fwNat)
  sampler.next({ snapshot: before })
  const restarted = { ...after, slots: after.slots.map((s) => (s.name === 'fw' ? { ...s, generation: 2 } : s)) }
  const fw = sampler.next({ snapshot: restarted }).endpoints.find((e) => e.label === 'fw')!
  t.is(fw.rx, null)
  t.is(fw.rxTotal, 70_000)
})

test('chain lines follow packets from port to port, with gate names where an NF has several', (t) => {
  const text = chainLines(fwNat).map((line) => line.map((h) => h.endpoint + (h.gate ? `.${h.gate}` : '')).join(' > '))
  t.deepEqual(text, ['lan > fw > nat.outside > wan', 'wan > nat.inside > lan'])
})

test('a link between two members of a placement group is a call; links leaving the group are not', (t) => {
  const grouped = { ...fwNat, endpoints: fwNat.endpoints.map((e) => (e.name === 'fw' || e.name === 'nat' ? { ...e, group: 'edge' } : e)) }
  const text = chainLines(grouped).map((line) => line.map((h) => h.endpoint + (h.call ? ' =' : ' -')).join(' '))
  t.deepEqual(text, ['lan - fw = nat - wan -', 'wan - nat - lan -'])
})

test('top keeps the chain as drawn when the spec cannot be read again and no reload came (an NF down with its module broken): a reload\'s unread spec leaves the region\'s', (t) => {
  const region = () => snapshot({ time: 0, slots: [] })
  t.is(redrawn(fwNat, null, false, region), fwNat, 'as drawn: the NF that is down keeps its row')
  t.false(redrawn(fwNat, null, true, region).fromSpec, 'after a reload, the region\'s own names')
  const fromRegion = topologyOfRegion(region())
  t.false(redrawn(fromRegion, null, false, region).fromSpec)
})

test('from the region alone: each endpoint and where its gates lead, gates as numbers', (t) => {
  const s = snapshot({ time: 0, slots: [] })
  s.services[0].routes = [2]
  s.services[2].routes = [3]
  s.services[3].routes = [0, 1]
  const text = chainLines(topologyOfRegion(s)).map((line) => line.map((h) => h.endpoint + (h.gate ? `.${h.gate}` : '')).join(' > '))
  t.deepEqual(text, ['lan > fw', 'fw > nat', 'nat.0 > lan', 'nat.1 > wan'])
})

test('a placement group is one row (its process), and each member\'s NF panel shows that member\'s counters', (t) => {
  const grouped = {
    ...fwNat,
    endpoints: fwNat.endpoints.map((e) => (e.name === 'fw' ? { ...e, group: 'edge', groupMembers: ['fw', 'nat'] } : e.name === 'nat' ? { ...e, group: 'edge' } : e)),
  }
  const at = (time: number, rx: number) => snapshot({
    time,
    slots: [
      { name: 'lan', service: 0, slot: 0, tx: rx },
      { name: 'wan', service: 1, slot: 1, rx },
      { name: 'fw', service: 2, slot: 2, rx, tx: rx, nf: { '@fw/rules/0/packets': rx, '@fw/nsPerPacket': 80, '@nat/mappingsActive': 12, '@nat/drop/noMapping': 1 } },
    ],
  })
  const sampler = new Sampler(grouped)
  sampler.next({ snapshot: at(1000, 100) })
  const m = sampler.next({ snapshot: at(2000, 300) })
  t.deepEqual(m.endpoints.map((e) => e.label), ['lan', 'wan', 'edge(fw+nat)'], 'no row for the member without a process of its own')
  t.is(m.endpoints[2].rx, 200)
  t.deepEqual(m.nfs.map((n) => n.label), ['fw', 'nat'])
  t.deepEqual(m.nfs[0].counters, { 'rules/0/packets': 300, nsPerPacket: 80 })
  t.deepEqual(m.nfs[1].counters, { mappingsActive: 12, 'drop/noMapping': 1 })
})

test('an endpoint\'s drops count what the manager sent nowhere or refused, as the stats lines do, and its NF panel names them', (t) => {
  const at = (time: number, k: number) => snapshot({
    time,
    slots: [{ name: 'fw', service: 1, slot: 0, rx: 100 * k, tx: 90 * k, dropped: 4 * k, noRoute: 5 * k, invalid: 1 * k, nf: { 'drop/rule/0': 4 * k } }],
  })
  const sampler = new Sampler(fwNat)
  sampler.next({ snapshot: at(0, 1) })
  const m = sampler.next({ snapshot: at(1000, 2) })
  const fw = m.endpoints.find((e) => e.label === 'fw')!
  t.is(fw.dropTotal, 20)
  t.is(fw.drop, 10)
  t.deepEqual(m.nfs.find((n) => n.label === 'fw')!.counters, { 'drop/rule/0': 8, 'drop/no route (manager)': 10, 'drop/refused by the manager': 2 })
})

test('a placement group\'s losses to the manager stay on its row: the manager cannot say which member\'s they were', (t) => {
  const grouped: Topology = {
    ...fwNat,
    endpoints: fwNat.endpoints.map((e) => (e.name === 'fw' ? { ...e, group: 'edge', groupMembers: ['fw', 'nat'] } : e.name === 'nat' ? { ...e, group: 'edge' } : e)),
  }
  const at = (time: number, k: number) => snapshot({
    time,
    slots: [{ name: 'fw', service: 1, slot: 0, rx: 100 * k, tx: 90 * k, noRoute: 5 * k, nf: { '@fw/drop/rule/0': 4 * k, '@nat/drop/noMapping': k } }],
  })
  const sampler = new Sampler(grouped)
  sampler.next({ snapshot: at(0, 1) })
  const m = sampler.next({ snapshot: at(1000, 2) })
  t.is(m.endpoints.find((e) => e.endpoint === 'fw')!.dropTotal, 10)
  t.deepEqual(m.nfs.find((n) => n.label === 'fw')!.counters, { 'drop/rule/0': 8 })
  t.deepEqual(m.nfs.find((n) => n.label === 'nat')!.counters, { 'drop/noMapping': 2 })
})
