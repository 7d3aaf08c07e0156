// The data plane across real processes: a manager thread here, endpoints in child processes,
// all through one shared-memory region.
import test from 'ava'
import { attach, Manager, type RegionSnapshot } from '../../src/xio/index.ts'
import { cpuSeconds, finished, removeLeftoverRegions, startTraffic, stop, uniquePrefix, until, type Proc } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

const sinkSlots = (s: RegionSnapshot, name = 'sink') => s.slots.filter((x) => x.state === 'active' && x.name === name)
const received = (s: RegionSnapshot) => sinkSlots(s).reduce((n, x) => n + x.route.rxPackets, 0)
const instances = (m: Manager, name: string) => m.snapshot().services.find((s) => s.name === name)?.instances ?? 0

function chain(tag: string, options: { buffers?: number; ringSize?: number } = {}) {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: options.buffers ?? 8192, ringSize: options.ringSize ?? 1024 })
  m.declare('gen')
  m.declare('sink')
  m.route('gen', 0, 'sink')
  m.start()
  return m
}

test.serial('a million numbered packets cross the manager intact, in flow order, and the pool refills', async (t) => {
  const m = chain('million')
  const count = 1_000_000, flows = 16
  const sinks = [startTraffic('consume', m.prefix, 'sink'), startTraffic('consume', m.prefix, 'sink')]
  t.true(await until(() => instances(m, 'sink') === 2))
  const gen = startTraffic('produce', m.prefix, 'gen', { count, flows, size: 64 })
  t.is((await finished(gen)).sent, count)
  t.true(await until(() => received(m.snapshot()) === count, 30_000), `delivered ${received(m.snapshot())}`)
  const results = await Promise.all(sinks.map(stop))

  t.is(results.reduce((n, r) => n + (r.received as number), 0), count, 'no loss, no duplicate')
  for (const r of results) {
    t.is(r.outOfOrder, 0)
    t.is(r.corrupt, 0)
    t.true((r.received as number) > 0, 'flow hashing spreads flows over both instances')
  }
  // Each flow met exactly one instance, and that instance saw all of it.
  const seen = new Map<string, number>()
  for (const r of results) for (const [flow, next] of Object.entries(r.flows as Record<string, number>)) seen.set(flow, (seen.get(flow) ?? 0) + next)
  t.is(seen.size, flows)
  for (const next of seen.values()) t.is(next, count / flows)

  t.true(await until(() => m.snapshot().pool.free === 8192), 'every buffer is back on the pool')
  const s = m.snapshot()
  t.is(s.manager.routed, count)
  t.is(s.manager.invalid, 0)
  m.close()
})

test.serial('instances that claim at once are numbered apart by the manager, so flows spread over both', async (t) => {
  // Both claim while the manager is not yet routing: neither can see the other live, which is
  // when two instances once numbered themselves alike and all flows went to one.
  const m = Manager.create({ prefix: uniquePrefix('numbered'), buffers: 4096, ringSize: 256 })
  m.declare('gen')
  m.declare('sink')
  m.route('gen', 0, 'sink')
  const sinks = [startTraffic('consume', m.prefix, 'sink'), startTraffic('consume', m.prefix, 'sink')]
  const pids = new Set(sinks.map((p) => p.child.pid))
  t.true(await until(() => m.snapshot().slots.filter((s) => pids.has(s.pid)).length === 2), 'both claimed a slot')
  m.start()
  t.true(await until(() => instances(m, 'sink') === 2))
  t.deepEqual(sinkSlots(m.snapshot()).map((s) => s.instance).sort(), [0, 1])

  const count = 4096, flows = 16
  t.is((await finished(startTraffic('produce', m.prefix, 'gen', { count, flows, size: 64 }))).sent, count)
  t.true(await until(() => received(m.snapshot()) === count))
  const results = await Promise.all(sinks.map(stop))
  for (const r of results) t.true((r.received as number) > 0, `each instance got flows: ${results.map((x) => x.received)}`)
  m.close()
})

test.serial('a full ring makes tx return fewer, counted, and nothing is lost once the consumer reads', async (t) => {
  const m = chain('backpressure', { ringSize: 64 })
  const sink = startTraffic('consume', m.prefix, 'sink', { pausedUntilSignal: true })
  t.true(await until(() => instances(m, 'sink') === 1))
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const burst = new Uint32Array(32)
  let accepted = 0, seq = 0, shortTx = 0
  const pending: number[] = []
  // Fill until the gen's TX ring, the manager's hold and the sink's RX ring are all full.
  for (let round = 0; round < 200 && shortTx === 0; round++) {
    const n = gen.malloc(burst)
    for (let i = 0; i < n; i++) {
      gen.view.setUint32(gen.offset(burst[i]), 0, true)
      gen.view.setUint32(gen.offset(burst[i]) + 4, seq++, true)
      gen.setLength(burst[i], 64)
    }
    const k = gen.tx(burst, n)
    accepted += k
    if (k < n) {
      shortTx++
      for (let i = k; i < n; i++) pending.push(burst[i])
    }
    // Let the manager take what it can before the next burst, so only a full path refuses.
    await until(() => {
      const now = m.snapshot()
      const sinkRx = sinkSlots(now)[0].rings.rx.used
      return now.slots.find((x) => x.name === 'gen')!.rings.tx.used === 0 || (sinkRx === 64 && now.manager.held > 0)
    }, 1000, 1)
  }
  t.is(shortTx, 1, 'tx returned fewer than offered')
  const s = m.snapshot()
  const genSlot = s.slots.find((x) => x.name === 'gen')!
  t.true(genSlot.rings.tx.refused > 0, 'the refusal is counted on the TX ring')
  t.is(sinkSlots(s)[0].rings.rx.used, 64, 'the sink RX ring is full')
  t.true(s.manager.held > 0, 'the manager held back what the sink could not take')

  // The refused descriptors are still ours: send them once there is room.
  sink.child.kill('SIGUSR1')
  const rest = Uint32Array.from(pending)
  let sent = 0
  t.true(await until(() => (sent += gen.tx(rest.subarray(sent))) === rest.length))
  accepted += rest.length
  t.true(await until(() => received(m.snapshot()) === accepted))
  const r = await stop(sink)
  t.is(r.received, accepted)
  t.is(r.outOfOrder, 0)
  gen.detach()
  t.true(await until(() => m.snapshot().pool.free === 8192))
  m.close()
})

test.serial('an endpoint killed with SIGKILL mid-traffic gives every buffer back and the rest go on', async (t) => {
  const m = chain('kill')
  const sinks = [startTraffic('consume', m.prefix, 'sink', { size: 128 }), startTraffic('consume', m.prefix, 'sink', { size: 128 })]
  t.true(await until(() => instances(m, 'sink') === 2))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 3_000_000, flows: 8, size: 128 })
  // The victim is the sink with more flows (8 flows over two instances may split 7:1, and which
  // sink became which instance is a race), once traffic is well under way.
  t.true(await until(() => received(m.snapshot()) > 200_000, 30_000), `received ${received(m.snapshot())}`)
  const busier = sinkSlots(m.snapshot()).reduce((a, b) => (b.route.rxPackets > a.route.rxPackets ? b : a))
  const [victim, survivor] = busier.pid === sinks[0].child.pid ? sinks : [sinks[1], sinks[0]]
  victim.child.kill('SIGKILL')
  t.true(await until(() => m.snapshot().manager.deaths === 1), 'the manager noticed the death')
  const afterDeath = m.snapshot()
  t.true(afterDeath.manager.reclaimed > 0, 'it took back the buffers the dead endpoint held')
  t.is(instances(m, 'sink'), 1)

  const survivorBefore = received(afterDeath)
  t.is((await finished(gen)).sent, 3_000_000, 'the producer finished: its flows moved to the survivor')
  t.true(await until(() => m.snapshot().slots.find((x) => x.name === 'gen')?.rings.tx.used === 0 && received(m.snapshot()) > survivorBefore))
  const r = await stop(survivor)
  t.is(r.corrupt, 0)
  t.true(await until(() => m.snapshot().pool.free === 8192), `pool ${JSON.stringify(m.snapshot().pool)}`)
  m.close()
})

test.serial('buffers lie an odd number of cache lines apart, each holding what its size says', async (t) => {
  // [bufferSize, stride]: an even number of 64 B lines gets one more (native/layout.h bufferStrideOf).
  for (const [size, stride] of [[2048, 2112], [2112, 2112], [256, 320], [9216, 9280]]) {
    const m = Manager.create({ prefix: uniquePrefix(`stride-${size}`), buffers: 1024, bufferSize: size })
    m.declare('a')
    m.declare('b')
    m.route('a', 0, 'b')
    m.start()
    const [a, b] = await Promise.all([attach({ prefix: m.prefix, name: 'a' }), attach({ prefix: m.prefix, name: 'b' })])
    t.is(a.region.bufferStride, stride, `${size} B buffers`)
    t.is(a.offset(1) - a.offset(0), stride)
    t.is(a.capacity, size - 192, 'packet bytes: the size less 64 B of metadata and 128 of headroom')
    t.true(a.offset(1023) + a.capacity <= a.bytes.length, 'the last buffer lies inside the region')
    // The manager agrees: a packet filling the buffer goes through, one byte more is oversize.
    const sent = new Uint32Array(2)
    t.is(a.malloc(sent, 2), 2)
    a.bytes[a.offset(sent[0]) + a.capacity - 1] = 0x5a
    a.setLength(sent[0], a.capacity)
    a.setLength(sent[1], a.capacity + 1)
    t.is(a.tx(sent, 2), 2)
    const got = new Uint32Array(2)
    t.is(b.rxWait(got, 5000), 1)
    t.is(got[0], sent[0])
    t.is(b.length(got[0]), b.capacity)
    t.is(b.bytes[b.offset(got[0]) + b.capacity - 1], 0x5a)
    t.true(await until(() => m.snapshot().manager.oversize === 1), 'the longer one is refused')
    b.free(got, 1)
    a.detach()
    b.detach()
    m.close()
  }
})

test.serial('an idle chain sleeps: sleep counters rise and CPU stays near zero', async (t) => {
  const m = chain('idle')
  const procs: Proc[] = [startTraffic('consume', m.prefix, 'sink'), startTraffic('echo', m.prefix, 'gen')]
  t.true(await until(() => instances(m, 'sink') === 1 && instances(m, 'gen') === 1))
  await new Promise((r) => setTimeout(r, 300))
  const tid = m.snapshot().manager.tid
  const pids = procs.map((p) => p.child.pid!)
  const before = { s: m.snapshot(), manager: cpuSeconds(process.pid, tid), endpoints: pids.map((p) => cpuSeconds(p)) }
  await new Promise((r) => setTimeout(r, 3000))
  const after = { s: m.snapshot(), manager: cpuSeconds(process.pid, tid), endpoints: pids.map((p) => cpuSeconds(p)) }

  t.true(after.s.manager.sleeps > before.s.manager.sleeps, 'the manager slept')
  for (const name of ['sink', 'gen']) {
    const b = before.s.slots.find((x) => x.name === name)!, a = after.s.slots.find((x) => x.name === name)!
    t.true(a.endpoint.sleeps > b.endpoint.sleeps, `${name} slept`)
  }
  const managerShare = (after.manager - before.manager) / 3
  t.true(managerShare < 0.05, `manager used ${(managerShare * 100).toFixed(1)}% of a core`)
  after.endpoints.forEach((cpu, i) => {
    const share = (cpu - before.endpoints[i]) / 3
    t.true(share < 0.1, `endpoint ${i} used ${(share * 100).toFixed(1)}% of a core`)
  })
  await Promise.all(procs.map(stop))
  m.close()
})

test.serial('a packet sent as the manager goes to sleep wakes it: 20,000 round trips one packet at a time, a manager that sleeps as soon as it is idle, none waits out its sleep', async (t) => {
  // Each send finds the manager asleep or on its way there: setting its flag, looking once
  // more for work, waiting. A wake lost in between would leave the round trip to the sleep's
  // end, five seconds.
  const m = Manager.create({ prefix: uniquePrefix('wake'), buffers: 1024 })
  m.declare('ping')
  m.declare('echo')
  m.route('ping', 0, 'echo')
  m.route('echo', 0, 'ping')
  m.start({ spinUs: 0, sleepMs: 5000 })
  t.teardown(() => m.close())
  const echo = startTraffic('echo', m.prefix, 'echo')
  t.true(await until(() => instances(m, 'echo') === 1))
  const rounds = 20_000
  const sleepsBefore = m.snapshot().manager.sleeps
  const ping = await finished(startTraffic('ping', m.prefix, 'ping', { count: rounds, stallMs: 1000 }))
  await stop(echo)
  t.is(ping.stalls, 0, `longest round trip ${ping.longestMs} ms`)
  // The path was taken: the manager slept between most round trips.
  t.true(m.snapshot().manager.sleeps - sleepsBefore >= rounds, `${m.snapshot().manager.sleeps - sleepsBefore} sleeps`)
})
