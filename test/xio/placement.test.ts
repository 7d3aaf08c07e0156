// Which instance of an endpoint gets which flow, between real processes: rendezvous hashing over
// the instances' numbers, so an instance that dies moves only its own flows, the flows of the
// instances that stay never move (their order holds across the death), and an instance that
// comes back under its number gets exactly its flows back. And where the numbers come from.
import test from 'ava'
import { attach, Manager, XioError } from '../../src/xio/index.ts'
import { nfState } from '../../src/xio/state.ts'
import { finished, removeLeftoverRegions, startTraffic, stop, uniquePrefix, until, type Proc } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

const FLOWS = 60

function chain() {
  const m = Manager.create({ prefix: uniquePrefix('placement'), buffers: 8192 })
  m.declare('gen')
  m.declare('a')
  m.route('gen', 0, 'a')
  m.start()
  return m
}

const live = (m: Manager, name = 'a') => m.snapshot().services.find((s) => s.name === name)?.instances ?? 0
const received = (m: Manager) => m.snapshot().slots.filter((s) => s.state === 'active' && s.name === 'a').reduce((n, s) => n + s.route.rxPackets, 0)

type Report = { received: number; outOfOrder: number; flows: Record<string, number> }

/** One round: consumers with these instance numbers, every flow sent `perFlow` times; who got which flows. */
async function round(m: Manager, numbers: number[], perFlow = 50): Promise<Map<number, Set<number>>> {
  const consumers = numbers.map((instance) => startTraffic('consume', m.prefix, 'a', { instance }))
  if (!(await until(() => live(m) === numbers.length, 10_000))) throw new Error('consumers did not attach')
  const before = received(m)
  await finished(startTraffic('produce', m.prefix, 'gen', { count: FLOWS * perFlow, flows: FLOWS }))
  if (!(await until(() => received(m) - before === FLOWS * perFlow, 20_000))) throw new Error('not everything arrived')
  const reports = (await Promise.all(consumers.map(stop))) as unknown as Report[]
  await until(() => live(m) === 0, 10_000)
  return new Map(numbers.map((n, i) => [n, new Set(Object.keys(reports[i].flows).map(Number))]))
}

test.serial('an instance that leaves moves only its own flows; back under its number, it gets exactly those back', async (t) => {
  const m = chain()
  const all = await round(m, [0, 1, 2])
  t.is([...all.values()].reduce((n, s) => n + s.size, 0), FLOWS, 'each flow at one instance')
  for (const [n, flows] of all) t.true(flows.size >= FLOWS / 6, `instance ${n} has a fair share: ${flows.size} of ${FLOWS}`)
  const without1 = await round(m, [0, 2])
  for (const n of [0, 2]) for (const f of all.get(n)!) t.true(without1.get(n)!.has(f), `flow ${f} stayed at instance ${n}`)
  for (const f of all.get(1)!) t.true(without1.get(0)!.has(f) || without1.get(2)!.has(f), `flow ${f} of the one gone went to another`)
  const back = await round(m, [2, 0, 1])
  for (const n of [0, 1, 2]) t.deepEqual([...back.get(n)!].sort(), [...all.get(n)!].sort(), `instance ${n} has its own flows again`)
  m.close()
})

test.serial('kill -9 of one instance mid-stream: the others\' flows neither move nor lose their order', async (t) => {
  const m = chain()
  const owners = await round(m, [0, 1, 2])
  const perFlow = 1500
  const consumers = [0, 1, 2].map((instance) => startTraffic('consume', m.prefix, 'a', { instance }))
  t.true(await until(() => live(m) === 3, 10_000))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: FLOWS * perFlow, flows: FLOWS, pauseMs: 1 })
  // Every flow under way before the death.
  t.true(await until(() => received(m) > FLOWS * 100, 20_000))
  consumers[1].child.kill('SIGKILL')
  t.is((await finished(gen)).sent, FLOWS * perFlow)
  t.true(await until(() => live(m) === 2, 10_000))
  const [r0, r2] = (await Promise.all([stop(consumers[0]), stop(consumers[2])])) as unknown as Report[]
  for (const [n, r] of [[0, r0], [2, r2]] as const) {
    // Its own flows: every packet, in order (the next sequence expected is the count sent).
    for (const f of owners.get(n)!) t.is(r.flows[f], perFlow, `instance ${n}, its flow ${f}: all in order`)
    // The flows it took over from the dead one each start mid-stream once; nothing else jumps.
    const inherited = Object.keys(r.flows).map(Number).filter((f) => owners.get(1)!.has(f))
    t.true(r.outOfOrder <= inherited.length, `instance ${n}: ${r.outOfOrder} jumps, ${inherited.length} flows taken over`)
    t.is(inherited.length + owners.get(n)!.size, Object.keys(r.flows).length, 'no flow of the other survivor')
  }
  m.close()
})

test.serial('an endpoint attached without a number has the lowest its fellows leave free, from the manager; one given a number keeps it', async (t) => {
  const m = chain()
  const a = await attach({ prefix: m.prefix, name: 'a' })
  const b = await attach({ prefix: m.prefix, name: 'a' })
  const c = await attach({ prefix: m.prefix, name: 'a', instance: 7 })
  t.deepEqual([a.instance, b.instance, c.instance], [0, 1, 7])
  t.deepEqual(m.snapshot().slots.filter((s) => s.state === 'active').map((s) => s.instance).sort(), [0, 1, 7], 'observers see the same')
  b.detach()
  t.true(await until(() => live(m) === 2))
  const d = await attach({ prefix: m.prefix, name: 'a' })
  t.is(d.instance, 1, 'the number b left')
  for (const x of [a, c, d]) x.detach()
  m.close()
})

test.serial('the number of an instance that died waits for its restart: one asking for no number meanwhile is given another', async (t) => {
  const m = chain()
  const zero = startTraffic('consume', m.prefix, 'a', { instance: 0 })
  t.true(await until(() => live(m) === 1, 10_000))
  zero.child.kill('SIGKILL')
  await zero.exited
  t.true(await until(() => live(m) === 0, 10_000))
  const unnumbered = await attach({ prefix: m.prefix, name: 'a' })
  t.is(unnumbered.instance, 1, 'not 0, which the restart asks for')
  const restarted = await attach({ prefix: m.prefix, name: 'a', instance: 0 })
  t.is(restarted.instance, 0)
  // One that leaves saying so is not coming back: its number is free at once.
  restarted.detach()
  t.true(await until(() => live(m) === 1))
  const next = await attach({ prefix: m.prefix, name: 'a' })
  t.is(next.instance, 0, 'the number a detached instance left')
  for (const x of [unnumbered, next]) x.detach()
  m.close()
})

test.serial('a number a live instance has is not given twice: a claim for it waits for that one to go, and gives up with INSTANCE_TAKEN if it does not; a restart that comes before its death is found replaces it at once', async (t) => {
  const m = chain()
  const served = () => m.snapshot().slots.filter((s) => s.state === 'active' && s.name === 'a').map((s) => [s.slot, s.instance])
  const first = await attach({ prefix: m.prefix, name: 'a', instance: 1 })
  // Two instances numbered 1 would split that number's flows and handoffs: the second waits
  // (two seconds), then says why it is not served.
  const taken = await attach({ prefix: m.prefix, name: 'a', instance: 1 }).then(() => null, (e: unknown) => e as XioError)
  t.is(taken?.code, 'INSTANCE_TAKEN')
  t.regex(taken?.message ?? '', /instance 1 of endpoint 'a' on prefix '.+' is served by another live process/)
  t.deepEqual(served(), [[first.slot, 1]])
  // Its slot goes back, free for the next claimer.
  t.true(await until(() => m.snapshot().slots.every((s) => s.state === 'free' || s.slot === first.slot)))
  first.detach()
  t.true(await until(() => live(m) === 0))
  // One leaving as the claim waits: the claim is taken on once it has gone.
  const leaving = startTraffic('consume', m.prefix, 'a', { instance: 1 })
  t.true(await until(() => live(m) === 1, 10_000))
  leaving.child.kill('SIGTERM')
  const next = await attach({ prefix: m.prefix, name: 'a', instance: 1 })
  t.deepEqual(served(), [[next.slot, 1]])
  await leaving.exited
  next.detach()
  t.true(await until(() => live(m) === 0))
  // Killed, and restarted before the manager has looked for deaths: the dead one goes as the
  // restart is taken on, never two at once.
  const zero = startTraffic('consume', m.prefix, 'a', { instance: 0 })
  t.true(await until(() => live(m) === 1, 10_000))
  zero.child.kill('SIGKILL')
  await zero.exited
  const restarted = await attach({ prefix: m.prefix, name: 'a', instance: 0 })
  t.deepEqual(served(), [[restarted.slot, 0]])
  restarted.detach()
  m.close()
})

test.serial('a claim for the number of an instance that is leaving takes it once it has left, whatever their slots: what the leaving one sent is routed, and it is no death', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('handover'), buffers: 1024 })
  for (const name of ['a', 'b', 'filler']) m.declare(name)
  m.route('a', 0, 'b')
  m.start()
  t.teardown(() => m.close())
  // The claim for a#1 will come in a lower slot than the a#1 leaving: the manager meets it first.
  const filler = await attach({ prefix: m.prefix, name: 'filler' })
  const leaving = await attach({ prefix: m.prefix, name: 'a', instance: 1 })
  const b = await attach({ prefix: m.prefix, name: 'b' })
  const low = filler.slot
  t.true(low < leaving.slot)
  filler.detach()
  t.true(await until(() => m.snapshot().slots.find((s) => s.slot === low)?.state === 'free'))
  // Its last packets wait in the manager (its gate held shut) as it leaves.
  m.pause([{ from: 'a', gate: 0 }])
  const ten = new Uint32Array(10)
  t.is(leaving.malloc(ten), 10)
  for (const d of ten) leaving.setLength(d, 64)
  t.is(leaving.tx(ten), 10)
  const deaths = m.snapshot().manager.deaths
  // The claim, from another process: it waits in the low slot while a#1 is still there.
  const next = startTraffic('consume', m.prefix, 'a', { instance: 1 })
  t.true(await until(() => m.snapshot().slots.find((s) => s.slot === low)?.state === 'waiting', 10_000))
  leaving.detach()
  m.routes([{ from: 'a', gate: 0, to: 'b' }])
  const burst = new Uint32Array(32)
  let got = 0
  t.true(await until(() => {
    const n = b.rx(burst)
    if (n) b.free(burst, n)
    return (got += n) === 10
  }), `${got} of 10 delivered`)
  t.true(await until(() => m.snapshot().slots.some((s) => s.slot === low && s.state === 'active' && s.instance === 1)))
  t.is(m.snapshot().manager.deaths, deaths, 'it left; it did not die')
  await stop(next)
  b.detach()
})

test.serial('a placement group\'s number waits for it in each member it serves, until the group is back', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('held-group'), buffers: 4096 })
  for (const name of ['a', 'b']) m.declare(name)
  m.start()
  const group = startTraffic('group', m.prefix, 'a', { also: ['b'], instance: 0 })
  t.true(await until(() => live(m, 'b') === 1, 10_000))
  group.child.kill('SIGKILL')
  await group.exited
  t.true(await until(() => live(m, 'b') === 0, 10_000))
  // b's own instance 0 back (a process serving b alone): a's 0 still waits for the group.
  const b0 = await attach({ prefix: m.prefix, name: 'b', instance: 0 })
  const a = await attach({ prefix: m.prefix, name: 'a' })
  t.is(a.instance, 1, 'a\'s 0 is still the group\'s')
  const b = await attach({ prefix: m.prefix, name: 'b' })
  t.is(b.instance, 1, 'b\'s next free one: 0 is taken, by b0')
  for (const x of [b0, a, b]) x.detach()
  m.close()
})

/**
 * Starts `first`, then `second`, each once it has claimed a slot, on a manager not yet running
 * (so both are taken on in its first pass, `first` in the lower slot); then starts it. Returns
 * the instance number each was taken on as.
 */
async function takenOnInOnePass(names: string[], first: [string, string, object], second: [string, string, object]): Promise<[number, number]> {
  const m = Manager.create({ prefix: uniquePrefix('one-pass'), buffers: 4096 })
  for (const name of names) m.declare(name)
  const procs: Proc[] = []
  for (const [mode, name, options] of [first, second]) {
    const p = startTraffic(mode, m.prefix, name, options)
    procs.push(p)
    if (!(await until(() => m.snapshot().slots.some((s) => s.pid === p.child.pid)))) throw new Error(`${name} did not claim a slot`)
  }
  m.start()
  const numberOf = (pid?: number) => m.snapshot().slots.find((s) => s.state === 'active' && s.pid === pid)?.instance
  if (!(await until(() => procs.every((p) => numberOf(p.child.pid) !== undefined)))) throw new Error('not both taken on')
  const numbers = procs.map((p) => numberOf(p.child.pid)!) as [number, number]
  // Killed, not stopped: just taken on, they may not have their SIGTERM handlers yet.
  for (const p of procs) p.child.kill('SIGKILL')
  await Promise.all(procs.map((p) => p.exited))
  m.close()
  return numbers
}

test.serial('one asking for no number, taken on before one asking for 0 in the same pass, does not take 0 too', async (t) => {
  t.deepEqual(await takenOnInOnePass(['a'], ['consume', 'a', {}], ['consume', 'a', { instance: 0 }]), [1, 0])
})

test.serial('nor a number a placement group still to be taken on asks for, for a member it serves too', async (t) => {
  // The group serves b as its instance 0 too.
  t.deepEqual(await takenOnInOnePass(['a', 'b'], ['consume', 'b', {}], ['group', 'a', { also: ['b'], instance: 0 }]), [1, 0])
})

test.serial('an NF keeps no state under a number it was never given: with no manager running, env.state says so', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('unnumbered'), buffers: 1024 })
  m.declare('a')
  const a = await attach({ prefix: m.prefix, name: 'a' }) // gives up waiting for the manager after 2 s
  t.is(a.instance, null)
  t.throws(() => nfState(a)(64, 'test 1'), { code: 'MANAGER_STALLED', message: /has not taken endpoint 'a' on/ })
  a.detach()
  m.close()
})

test.serial('a handoff reaches the instance it names whatever the flow hash, in each flow\'s order; one to an instance not running is no route, and the pool stays whole', async (t) => {
  const m = chain()
  const a = [0, 1, 2].map((instance) => startTraffic('handoff', m.prefix, 'a', { instance, handTo: 2 }))
  t.true(await until(() => live(m) === 3, 10_000))
  const perFlow = 200
  await finished(startTraffic('produce', m.prefix, 'gen', { count: FLOWS * perFlow, flows: FLOWS }))
  const total = FLOWS * perFlow
  // Every packet reaches a by flow hash, and is handed to instance 2 from there (from 2 too): twice through a.
  t.true(await until(() => received(m) === 2 * total, 20_000), `a received ${received(m)} of ${2 * total}`)
  const reports = (await Promise.all(a.map(stop))) as unknown as Array<{ handed: number; received: number; outOfOrder: number; corrupt: number }>
  t.is(reports[0].received + reports[1].received, 0, 'only instance 2 is handed packets')
  t.is(reports[2].received, total, 'every packet reaches instance 2')
  t.is(reports[0].handed + reports[1].handed + reports[2].handed, total)
  t.true(reports[0].handed > 0 && reports[1].handed > 0, 'the flow hash spread them first')
  t.deepEqual([reports[2].outOfOrder, reports[2].corrupt], [0, 0], 'each flow in order, intact')
  // Handed to a number nobody runs: no route, counted at the sender; the buffers come back.
  const lone = startTraffic('handoff', m.prefix, 'a', { instance: 0, handTo: 5 })
  t.true(await until(() => live(m) === 1, 10_000))
  await finished(startTraffic('produce', m.prefix, 'gen', { count: 500, flows: 5 }))
  t.true(await until(() => m.snapshot().slots.find((s) => s.state === 'active' && s.name === 'a')?.route.noRoute === 500, 10_000))
  t.is((await stop(lone)).received, 0)
  t.true(await until(() => m.snapshot().pool.free === 8192, 10_000), 'the pool is whole')
  m.close()
})
