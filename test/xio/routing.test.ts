// Routing decisions of the manager, between real processes: gates follow routes that can
// change while traffic flows, a descriptor can name its destination, and drops go back to
// the pool, counted.
import test from 'ava'
import { attach, Manager, type RegionSnapshot } from '../../src/xio/index.ts'
import { finished, removeLeftoverRegions, startTraffic, stop, uniquePrefix, until } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

const rx = (s: RegionSnapshot, name: string) => s.slots.filter((x) => x.state === 'active' && x.name === name).reduce((n, x) => n + x.route.rxPackets, 0)
const instances = (m: Manager, name: string) => m.snapshot().services.find((s) => s.name === name)?.instances ?? 0

function chain(tag: string) {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: 4096 })
  for (const name of ['gen', 'a', 'b']) m.declare(name)
  m.route('gen', 0, 'a')
  m.start()
  return m
}

test.serial('a route changed while packets flow takes effect at once, losing nothing', async (t) => {
  const m = chain('reroute')
  const sinks = [startTraffic('consume', m.prefix, 'a'), startTraffic('consume', m.prefix, 'b')]
  t.true(await until(() => instances(m, 'a') === 1 && instances(m, 'b') === 1))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 20_000, flows: 1, pauseMs: 1 })
  t.true(await until(() => rx(m.snapshot(), 'a') > 2000, 20_000))
  m.route('gen', 0, 'b')
  const atSwitch = rx(m.snapshot(), 'a')
  t.is((await finished(gen)).sent, 20_000)
  t.true(await until(() => rx(m.snapshot(), 'a') + rx(m.snapshot(), 'b') === 20_000))
  const [a, b] = await Promise.all(sinks.map(stop))
  t.true((a.received as number) - atSwitch < 1100, 'a gets at most what was already on its way when the route changed')
  t.true((b.received as number) > 10_000, 'b gets the rest')
  t.is((a.received as number) + (b.received as number), 20_000)
  // One flow, split at one point in its sequence: a saw a prefix, b the rest, each in order.
  t.is(a.outOfOrder, 0)
  t.is((a.flows as Record<string, number>)['0'], a.received as number)
  t.is(b.outOfOrder, 1, 'b starts where a stopped, not at 0')
  m.close()
})

test.serial('a descriptor sent to a named endpoint goes there whatever the gates say', async (t) => {
  const m = chain('sendto')
  const sinks = [startTraffic('consume', m.prefix, 'a'), startTraffic('consume', m.prefix, 'b')]
  t.true(await until(() => instances(m, 'a') === 1 && instances(m, 'b') === 1))
  t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count: 5000, to: 'b' }))).sent, 5000)
  t.true(await until(() => rx(m.snapshot(), 'b') === 5000))
  const [a, b] = await Promise.all(sinks.map(stop))
  t.is(a.received, 0)
  t.is(b.received, 5000)
  m.close()
})

test.serial('dropped descriptors go back to the pool and are counted for the sender', async (t) => {
  const m = chain('drop')
  t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count: 10_000, to: 'drop' }))).sent, 10_000)
  t.true(await until(() => m.snapshot().manager.dropped === 10_000))
  t.true(await until(() => m.snapshot().pool.free === 4096), 'every buffer is back')
  t.is(rx(m.snapshot(), 'a'), 0)
  m.close()
})

test.serial('a gate with no route, or no live instance behind it, counts as noRoute and frees the buffer', async (t) => {
  const m = chain('noroute')
  t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count: 3000, gate: 1 }))).sent, 3000)
  t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count: 2000 }))).sent, 2000, "gate 0 leads to 'a', which has no instance")
  t.true(await until(() => m.snapshot().manager.noRoute === 5000))
  t.true(await until(() => m.snapshot().pool.free === 4096))
  m.close()
})

test.serial('a paused gate holds what is sent to it, in order, losing nothing; rewired, it all goes to the new route', async (t) => {
  const m = chain('pause')
  const sinks = [startTraffic('consume', m.prefix, 'a'), startTraffic('consume', m.prefix, 'b')]
  t.true(await until(() => instances(m, 'a') === 1 && instances(m, 'b') === 1))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 20_000, flows: 1, pauseMs: 1 })
  t.true(await until(() => rx(m.snapshot(), 'a') > 2000, 20_000))
  m.pause([{ from: 'gen', gate: 0 }])
  // While paused the generator's packets wait, its TX ring filling up behind them.
  const waiting = () => m.snapshot().slots.find((x) => x.state === 'active' && x.name === 'gen')?.rings.tx.used ?? 0
  t.true(await until(() => waiting() > 100, 10_000), 'what the generator sends waits')
  const atPause = rx(m.snapshot(), 'a')
  t.true(await until(() => rx(m.snapshot(), 'a') === atPause && m.snapshot().slots.some((x) => x.name === 'a' && x.rings.rx.used === 0)), 'a got only what was its before')
  t.is(rx(m.snapshot(), 'b'), 0)
  m.routes([{ from: 'gen', gate: 0, to: 'b' }])
  t.is((await finished(gen)).sent, 20_000)
  t.true(await until(() => rx(m.snapshot(), 'a') + rx(m.snapshot(), 'b') === 20_000))
  const [a, b] = await Promise.all(sinks.map(stop))
  t.is((a.received as number) + (b.received as number), 20_000, 'nothing lost while paused')
  t.is(a.outOfOrder, 0)
  t.is(b.outOfOrder, 1, 'b starts where a stopped')
  t.is(m.snapshot().manager.noRoute, 0)
  m.close()
})

test.serial('batches of route changes applied by the manager thread while packets flow lose nothing; the last one is in force', async (t) => {
  // gen's gates 0 and 1 swap destinations in one batch, two hundred times, under traffic.
  const m = chain('batch')
  m.route('gen', 1, 'b')
  const sinks = [startTraffic('consume', m.prefix, 'a'), startTraffic('consume', m.prefix, 'b')]
  t.true(await until(() => instances(m, 'a') === 1 && instances(m, 'b') === 1))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 20_000, flows: 1, pauseMs: 1 })
  for (let i = 0; i < 200; i++) m.routes(i % 2 ? [{ from: 'gen', gate: 0, to: 'a' }, { from: 'gen', gate: 1, to: 'b' }] : [{ from: 'gen', gate: 0, to: 'b' }, { from: 'gen', gate: 1, to: 'a' }])
  t.is((await finished(gen)).sent, 20_000)
  t.true(await until(() => rx(m.snapshot(), 'a') + rx(m.snapshot(), 'b') === 20_000))
  await Promise.all(sinks.map(stop))
  const service = m.snapshot().services.find((s) => s.name === 'gen')!
  t.deepEqual(service.routes.slice(0, 2), [m.id('a'), m.id('b')], 'the last batch is in force, both of its routes')
  m.close()
})

// A placement group's process serves several endpoints from one slot: packets for any of them
// arrive on its RX ring, each saying which it was sent to, and it sends out of any of their gates.
function groupChain(tag: string) {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: 4096 })
  for (const name of ['gen', 'a', 'b', 'sink']) m.declare(name)
  m.route('gen', 0, 'a')
  m.route('a', 0, 'b')
  m.route('b', 0, 'sink')
  m.start()
  return m
}

for (const inGroup of [true, false])
  test.serial(`one process serving a and b: ${inGroup ? 'a hands packets to b by a call, one hop through the manager' : 'a sends to b through the manager, back to the same process as b\'s'}`, async (t) => {
    const m = groupChain(inGroup ? 'group-call' : 'group-hop')
    const sink = startTraffic('consume', m.prefix, 'sink')
    const group = startTraffic('group', m.prefix, 'a', { also: ['b'], inGroup })
    t.true(await until(() => instances(m, 'a') === 1 && instances(m, 'b') === 1 && instances(m, 'sink') === 1), 'one slot is an instance of both')
    t.is(m.snapshot().slots.filter((x) => x.state === 'active').length, 2, 'the group holds one slot')
    t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count: 10_000, flows: 4 }))).sent, 10_000)
    t.true(await until(() => rx(m.snapshot(), 'sink') === 10_000, 20_000))
    const [consumed, passed] = await Promise.all([stop(sink), stop(group)])
    t.is(consumed.received, 10_000)
    t.is(consumed.outOfOrder, 0)
    t.is(consumed.corrupt, 0)
    t.deepEqual(passed.deliveredTo, inGroup ? { a: 10_000 } : { a: 10_000, b: 10_000 }, 'each delivery names the endpoint it was for')
    t.is(m.snapshot().manager.routed, inGroup ? 20_000 : 30_000, inGroup ? 'gen → group → sink: two hops' : 'three hops')
    m.close()
  })

test.serial('an endpoint cannot send out of the gate of one it does not serve: counted as no route', async (t) => {
  const m = groupChain('group-forged')
  const sink = startTraffic('consume', m.prefix, 'sink')
  t.true(await until(() => instances(m, 'sink') === 1))
  t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count: 1000, via: 'b' }))).sent, 1000)
  t.true(await until(() => m.snapshot().manager.noRoute === 1000))
  t.is((await stop(sink)).received, 0)
  t.is(m.snapshot().pool.inUse, 0, 'every buffer back in the pool')
  m.close()
})

test.serial('a group\'s packets held for the same gate of two paused members each go by their own member\'s route once resumed', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('group-pause'), buffers: 1024 })
  for (const name of ['a', 'b', 'c', 'd']) m.declare(name)
  m.start()
  m.pause([{ from: 'a', gate: 0 }, { from: 'b', gate: 0 }])
  const group = await attach({ prefix: m.prefix, name: 'a', also: ['b'] })
  const [c, d] = await Promise.all([attach({ prefix: m.prefix, name: 'c' }), attach({ prefix: m.prefix, name: 'd' })])
  const descs = new Uint32Array(4)
  t.is(group.malloc(descs, 4), 4)
  descs.forEach((x, i) => {
    group.setLength(x, 64)
    group.sendVia(x, group.endpointId(i < 2 ? 'a' : 'b'), 0)
  })
  t.is(group.tx(descs, 4), 4)
  t.true(await until(() => m.snapshot().slots.some((x) => x.name === 'a' && x.rings.tx.used === 0)), 'taken by the manager and held')
  m.routes([{ from: 'a', gate: 0, to: 'c' }, { from: 'b', gate: 0, to: 'd' }])
  const got = { c: 0, d: 0 }
  const out = new Uint32Array(8)
  t.true(await until(() => {
    for (const [name, x] of [['c', c], ['d', d]] as const) {
      const n = x.rx(out)
      got[name] += n
      if (n) x.free(out, n)
    }
    return got.c + got.d === 4
  }))
  t.deepEqual(got, { c: 2, d: 2 })
  for (const x of [group, c, d]) x.detach()
  m.close()
})
