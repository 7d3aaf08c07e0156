// Routing decisions of the manager, between real processes: gates follow routes that can
// change while traffic flows, a descriptor can name its destination, and drops go back to
// the pool, counted.
import test from 'ava'
import { Manager, type RegionSnapshot } from '../../src/xio/index.ts'
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
