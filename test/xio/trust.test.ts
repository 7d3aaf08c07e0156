// The manager's trust boundary: no endpoint, however faulty, can crash the manager, damage
// another endpoint's rings or slot, or unbalance the pool. Each test plays one kind of faulty
// NF in a real child process against a manager thread in this one.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { attach, attachCapture, layout, Manager, type RegionSnapshot } from '../../src/xio/index.ts'
import * as processes from '../helpers/processes.ts'
import { finished, removeLeftoverRegions, stop, uniquePrefix, until, type Proc } from '../helpers/processes.ts'

// Every child a test starts is killed when it ends, passed or failed.
const children: Proc[] = []
const track = (p: Proc) => (children.push(p), p)
const startFaulty = (...a: Parameters<typeof processes.startFaulty>) => track(processes.startFaulty(...a))
const startTraffic = (...a: Parameters<typeof processes.startTraffic>) => track(processes.startTraffic(...a))
const startTrafficUnder = (...a: Parameters<typeof processes.startTrafficUnder>) => track(processes.startTrafficUnder(...a))
const startChurn = (...a: Parameters<typeof processes.startChurn>) => track(processes.startChurn(...a))
test.afterEach.always(async () => {
  for (const p of children.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    await p.exited
  }
})
test.after.always(removeLeftoverRegions)

const slotOf = (s: RegionSnapshot, name: string) => s.slots.find((x) => x.state === 'active' && x.name === name)
const active = (m: Manager, name: string) => m.snapshot().slots.filter((x) => x.state === 'active' && x.name === name).length
const delivered = (m: Manager, name: string) => slotOf(m.snapshot(), name)?.route.rxPackets ?? 0
const deaths = (m: Manager, name: string) => m.snapshot().services.find((s) => s.name === name)!.deaths

function chain(tag: string, options: { buffers?: number; ringSize?: number; cacheSize?: number; slots?: number } = {}) {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: options.buffers ?? 4096, ...options })
  for (const name of ['gen', 'sink', 'bad']) m.declare(name)
  m.route('gen', 0, 'sink')
  m.route('bad', 0, 'sink')
  return m
}

/** Sends `count` numbered packets gen → sink in child processes; returns the sink's findings. */
async function cleanRun(m: Manager, count: number) {
  const sink = startTraffic('consume', m.prefix, 'sink')
  await until(() => active(m, 'sink') === 1)
  const before = delivered(m, 'sink')
  const gen = startTraffic('produce', m.prefix, 'gen', { count, flows: 4 })
  ensure((await finished(gen)).sent === count, 'the generator sent its count')
  const drained = await until(() => delivered(m, 'sink') - before >= count && slotOf(m.snapshot(), 'sink')!.rings.rx.used === 0)
  ensure(drained, `the sink got ${delivered(m, 'sink') - before} of ${count}`)
  const result = await stop(sink)
  await until(() => active(m, 'sink') === 0)
  return result
}
// For helpers that have no t: a failed condition fails the test that called them.
function ensure(ok: boolean, what: string) {
  if (!ok) throw new Error(what)
}

async function poolWhole(m: Manager, buffers: number) {
  return until(() => m.snapshot().pool.free === buffers && m.snapshot().slots.every((s) => s.state === 'free'))
}

test.serial('a stray write outside what an endpoint may write faults in that endpoint alone', async (t) => {
  const m = chain('stray')
  m.start()
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const view = m.region
  const targets = {
    header: 16,
    // Were it writable, storing 0 there over and over would make every other endpoint's wake look needless.
    "the manager's sleeping flag": layout.header.managerSleeping,
    services: view.serviceOffset(0) + 4,
    'another endpoint side': view.slotOffset(sink.slot) + 8,
    "another endpoint's TX ring": view.ringSides(sink.slot, 'tx').producer,
    'a manager side': view.managerSideOffset(1) + 8,
  }
  for (const [what, offset] of Object.entries(targets)) {
    const bad = startFaulty('write-at', m.prefix, 'bad', { offset })
    t.is(await bad.signal, 'SIGSEGV', `a write to ${what} faults`)
    t.false(bad.lines.some((l) => l.wrote), `and never lands (${what})`)
  }
  t.true(await until(() => deaths(m, 'bad') === Object.keys(targets).length), 'each faulty endpoint is reclaimed')
  sink.detach()
  const result = await cleanRun(m, 5000)
  t.is(result.received, 5000)
  t.is(result.corrupt, 0)
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('an endpoint that writes impossible ring indices is cut off, its buffers taken back; the others go on', async (t) => {
  const m = chain('indices')
  m.start()
  const bad = startFaulty('corrupt', m.prefix, 'bad')
  t.true(await until(() => bad.lines.some((l) => l.corrupted)))
  t.true(await until(() => bad.lines.some((l) => l.code)), 'it learns it was cut off')
  t.is(bad.lines.find((l) => l.code)!.code, 'FAULTED')
  t.is(m.snapshot().manager.faults, 1)
  t.is(m.snapshot().slots.filter((s) => s.state === 'faulted').length, 1, 'its slot waits for it to let go')
  t.is(m.snapshot().slots.find((s) => s.state === 'faulted')!.instance, 0, 'under the number it had, for the metrics and the dashboard')
  const result = await cleanRun(m, 5000)
  t.is(result.received, 5000, `the others go on: ${JSON.stringify(result)}`)
  t.is(result.outOfOrder, 0)
  await stop(bad)
  t.true(await poolWhole(m, 4096), 'every buffer it had is taken back')
  m.close()
})

test.serial('an observer shows a ring whose indices an endpoint made impossible as full, never 4 billion deep', async (t) => {
  // Not started, the manager never cuts it off (which would reset the indices): what it wrote
  // stays for the observer to read. Its attach gives up waiting for the manager after 2 s.
  const m = Manager.create({ prefix: uniquePrefix('impossible'), buffers: 1024, ringSize: 256 })
  m.declare('bad')
  const bad = startFaulty('corrupt', m.prefix, 'bad', { unserved: true })
  t.true(await until(() => bad.lines.some((l) => l.corrupted), 20_000))
  const rings = m.snapshot().slots.find((x) => x.name === 'bad')!.rings
  // TX head a ring's worth and more ahead, alloc tail past the head, free head behind its tail.
  for (const r of ['tx', 'alloc', 'free'] as const) t.is(rings[r].used, 256, r)
  t.true(m.snapshot().pool.inUse >= 0)
  await stop(bad)
  m.close()
})

test.serial('random bytes over everything an endpoint can write, for 10 s: the manager and a clean flow survive, the pool balances', async (t) => {
  const buffers = 8192
  const m = chain('scribble', { buffers })
  m.start()
  const sink = startTraffic('consume', m.prefix, 'sink')
  t.true(await until(() => active(m, 'sink') === 1))
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 100_000_000, flows: 4, pauseMs: 1 })
  t.true(await until(() => delivered(m, 'sink') > 1000))
  const bad = startFaulty('scribble', m.prefix, 'bad', { durationMs: 10_000 })
  t.true(await until(() => bad.lines.some((l) => l.attached)))
  const atStart = delivered(m, 'sink')
  const scribbled = await finished(bad)
  const atEnd = delivered(m, 'sink')
  t.true((scribbled.passes as number) > 100, `it scribbled ${scribbled.passes} times`)
  t.true(atEnd - atStart > 10_000, `the clean flow kept going: ${atEnd - atStart} packets during the storm`)
  const s = m.snapshot().manager
  t.true(s.invalid + s.faults > 0, 'its junk was refused, or it was cut off, and counted')
  await stop(gen)
  await stop(sink)
  t.true(await poolWhole(m, buffers), `the pool accounts for every buffer (free ${m.snapshot().pool.free})`)
  // And the chain is as good as new.
  const result = await cleanRun(m, 20_000)
  t.is(result.received, 20_000)
  t.is(result.corrupt, 0)
  t.is(result.outOfOrder, 0)
  t.true(await poolWhole(m, buffers))
  m.close()
})

test.serial('a stale second free of a buffer back in the same cache is refused; no buffer is handed out twice', async (t) => {
  const m = chain('stale', { buffers: 256, cacheSize: 32, ringSize: 64 })
  m.start()
  const bad = startFaulty('stale-free', m.prefix, 'bad')
  t.true(await until(() => bad.lines.some((l) => l.mode === 'stale-free')))
  const result = bad.lines.find((l) => l.mode === 'stale-free')!
  t.is(result.distinct, result.handouts, 'every descriptor it holds is a different buffer')
  t.true((result.handouts as number) <= 256)
  t.is(m.snapshot().manager.invalid, 1, 'the stale free was counted')
  await stop(bad)
  t.true(await poolWhole(m, 256))
  m.close()
})

// A pool of 4096 with rings of 256 and caches of 128: an endpoint's share is half the pool.
const SHARE = 2048

test.serial('an NF that keeps every buffer it allocates gets half the pool; the rest of the chain runs on the other half', async (t) => {
  const m = chain('hoard', { buffers: 4096, ringSize: 256 })
  m.start()
  const bad = startFaulty('hoard', m.prefix, 'bad')
  const allocated = () => (bad.lines.at(-1)?.allocated as number | undefined) ?? 0
  t.true(await until(() => allocated() >= SHARE, 30_000), `it allocated its share (${allocated()})`)
  const hoarder = slotOf(m.snapshot(), 'bad')!
  t.is(m.snapshot().pool.share, SHARE, 'the share, for observers')
  t.is(hoarder.buffers, SHARE, 'the manager counts what it holds')
  t.is(hoarder.rings.alloc.used, 0, 'and refills its cache no further')
  t.true(await until(() => slotOf(m.snapshot(), 'bad')!.endpoint.mallocFails > 0), 'its allocations from then on fail, counted')
  // While it asks on and on for buffers it will not get, the manager rests: it has nothing to
  // refill, and is not woken for a refill.
  const fails = () => slotOf(m.snapshot(), 'bad')!.endpoint.mallocFails
  const before = { loops: m.snapshot().manager.loops, fails: fails() }
  t.true(await until(() => fails() - before.fails >= 10_000, 10_000), 'it asks again and again')
  const loops = m.snapshot().manager.loops - before.loops
  t.true(loops < 1000, `the manager made ${loops} passes meanwhile: it rests`)
  // The rest of the chain allocates, sends and frees as before (without the share: no buffer
  // left, and the generator never sends its count).
  const result = await cleanRun(m, 20_000)
  t.is(result.received, 20_000)
  t.is(result.corrupt, 0)
  t.is(allocated(), SHARE, 'half the pool, and not one more')
  t.is(slotOf(m.snapshot(), 'bad')!.buffers, SHARE)
  await stop(bad)
  t.true(await poolWhole(m, 4096), `what it kept came back as it left (free ${m.snapshot().pool.free})`)
  m.close()
})

test.serial('two instances of an NF that keeps every buffer it allocates get half the pool between them; the rest of the chain runs on the other half', async (t) => {
  const m = chain('hoard2', { buffers: 4096, ringSize: 256 })
  m.start()
  const bad = [startFaulty('hoard', m.prefix, 'bad'), startFaulty('hoard', m.prefix, 'bad')]
  const allocated = () => bad.reduce((sum, p) => sum + ((p.lines.at(-1)?.allocated as number | undefined) ?? 0), 0)
  const instances = () => m.snapshot().slots.filter((x) => x.state === 'active' && x.name === 'bad')
  t.true(await until(() => instances().length === 2 && allocated() >= SHARE, 30_000), `both attached and together allocated the share (${allocated()})`)
  t.true(await until(() => instances().every((x) => x.endpoint.mallocFails > 0), 10_000), 'each asks for more and is refused')
  t.is(instances().reduce((sum, x) => sum + x.buffers, 0), SHARE, 'the manager counts what they hold, together at the share')
  const result = await cleanRun(m, 20_000)
  t.is(result.received, 20_000)
  t.is(result.corrupt, 0)
  t.is(allocated(), SHARE, 'half the pool between them, and not one more')
  await Promise.all(bad.map(stop))
  t.true(await poolWhole(m, 4096), `what they kept came back as they left (free ${m.snapshot().pool.free})`)
  m.close()
})

test.serial('two instances of an endpoint at its share still hand each other packets: a handoff comes from the same share', async (t) => {
  // Each instance's RX ring full of the other's handoffs, both at the share; one more handoff
  // each way waits for room. Room comes, and the share has none: the room one's handoff left
  // went to the endpoint's own refills. Held to the share, each would wait on the other for ever.
  const m = Manager.create({ prefix: uniquePrefix('handshare'), buffers: 4096, ringSize: 64, cacheSize: 32 })
  m.declare('nat')
  m.start()
  t.teardown(() => m.close())
  const a = await attach({ prefix: m.prefix, name: 'nat' })
  const b = await attach({ prefix: m.prefix, name: 'nat' })
  t.teardown(() => (a.detach(), b.detach()))
  const share = m.snapshot().pool.share
  const instances = () => m.snapshot().slots.filter((x) => x.name === 'nat' && x.state === 'active')
  const held = () => instances().reduce((n, x) => n + x.buffers, 0)
  const rxRoom = () => instances().map((x) => x.rings.rx.size - x.rings.rx.used)
  const ring = instances()[0].rings.rx.size
  // What each allocates and keeps, by instance: [0, count) are its.
  const kept = [a, b].map(() => ({ descs: new Uint32Array(4096), count: 0 }))
  const allocate = (i: number, n: number) => (kept[i].count += [a, b][i].malloc(kept[i].descs.subarray(kept[i].count, kept[i].count + n)))
  const handOff = async (i: number, n: number) => {
    const [from, to] = i === 0 ? [a, b] : [b, a]
    const d = kept[i].descs.slice(kept[i].count - n, kept[i].count)
    kept[i].count -= n
    for (const x of d) from.sendToInstance(x, from.id, to.instance!)
    let sent = 0
    t.true(await until(() => (sent += from.tx(d.subarray(sent))) === n), `sent ${sent} of ${n}`)
  }
  for (const i of [0, 1]) {
    t.true(await until(() => allocate(i, ring) >= ring), 'a ring\'s worth allocated')
    await handOff(i, ring)
  }
  t.true(await until(() => rxRoom().every((room) => room === 0)), `both RX rings full: room ${rxRoom()}`)
  // Both allocate (and keep) until the endpoint holds its share.
  const toShare = () => until(() => (allocate(0, 32), allocate(1, 32), held() >= share), 10_000)
  t.true(await toShare(), `at its share: ${held()} of ${share}`)
  const waited = m.snapshot().manager.held
  await handOff(0, 1)
  await handOff(1, 1)
  // The manager took both back from the share and holds them; refills take the room.
  t.true(await until(() => m.snapshot().manager.held === waited + 2), 'both handoffs wait for room')
  t.true(await toShare(), `at its share again: ${held()} of ${share}`)
  // Each takes in (and keeps) what its RX ring holds: room for the waiting handoff.
  const got = [0, 0]
  const inbox = new Uint32Array(ring)
  t.true(await until(() => {
    got[0] += a.rx(inbox)
    got[1] += b.rx(inbox)
    return got[0] === ring + 1 && got[1] === ring + 1
  }, 5000), `each got the other's ${ring} and then its last handoff: ${got}`)
  t.true(held() <= share + 2, `past the share by at most what was held: ${held()} of ${share}`)
})

test.serial('an NF that keeps every packet it receives is held back at half the pool: its sender waits, other flows go on', async (t) => {
  const m = chain('hoardrx', { buffers: 4096, ringSize: 256 })
  m.declare('feed')
  m.route('feed', 0, 'bad')
  m.start()
  const bad = startFaulty('hoard', m.prefix, 'bad', { receiveOnly: true })
  t.true(await until(() => bad.lines.length > 0 && active(m, 'bad') === 1, 30_000))
  const feed = startTraffic('produce', m.prefix, 'feed', { count: 100_000 })
  t.true(await until(() => (slotOf(m.snapshot(), 'bad')?.buffers ?? 0) === SHARE && m.snapshot().manager.held > 0, 30_000),
    `it reached its share, and the manager holds what is sent to it: ${JSON.stringify({ bad: slotOf(m.snapshot(), 'bad')?.buffers, held: m.snapshot().manager.held })}`)
  const result = await cleanRun(m, 20_000)
  t.is(result.received, 20_000, 'another flow gets buffers and carries all it sends')
  const after = m.snapshot()
  t.is(slotOf(after, 'bad')!.buffers, SHARE, 'still no more than its share')
  // Its share is what was delivered to it and what sits in its cache (filled as it attached).
  t.is(slotOf(after, 'bad')!.route.rxPackets + slotOf(after, 'bad')!.rings.alloc.used, SHARE, 'delivered to it: its share, the rest held back')
  t.is(after.manager.dropped + after.manager.noRoute, 0)
  await stop(bad)
  await stop(feed)
  t.true(await poolWhole(m, 4096), `every buffer came back (free ${m.snapshot().pool.free})`)
  m.close()
})

test.serial('a capture endpoint\'s buffers are the copies it has, and go as it frees them', async (t) => {
  const m = chain('capbuffers')
  m.start()
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const capture = attachCapture(m.prefix)
  t.true(capture.setTaps([{ service: m.snapshot().services.find((s) => s.name === 'gen')!.id, kind: 'tx' }]))
  const burst = new Uint32Array(20)
  t.is(gen.tx(burst, gen.malloc(burst)), 20)
  const got = new Uint32Array(64)
  let delivered = 0
  t.true(await until(() => {
    for (let n; (n = sink.rx(got)) > 0; sink.free(got, n)) delivered += n
    return delivered === 20
  }))
  const captureSlot = () => m.snapshot().slots.find((s) => s.state === 'active' && s.capture)!
  t.true(await until(() => captureSlot().buffers === 20), `copies counted: ${captureSlot().buffers}`)
  const n = capture.rx(got)
  t.is(n, 20)
  capture.free(got, 5)
  t.true(await until(() => captureSlot().buffers === 15), `five freed: ${captureSlot().buffers}`)
  capture.free(got.subarray(5), 15)
  t.true(await until(() => captureSlot().buffers === 0))
  // Copies it leaves unread are taken back as it goes, and are no packets of the chain: none lost.
  t.is(gen.tx(burst, gen.malloc(burst)), 20)
  t.true(await until(() => {
    for (let n; (n = sink.rx(got)) > 0; sink.free(got, n)) delivered += n
    return delivered === 40 && captureSlot().buffers === 20
  }), `copies unread: ${captureSlot().buffers}`)
  capture.detach()
  t.true(await until(() => m.snapshot().manager.reclaimed >= 20), 'the unread copies were taken back')
  t.is(m.snapshot().manager.lost, 0)
  gen.detach()
  sink.detach()
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('a sender held back by a full ring (or a stopped consumer) lets the manager sleep', async (t) => {
  const m = chain('stalled', { ringSize: 64 })
  m.start()
  const sink = startTraffic('hold', m.prefix, 'sink')
  t.true(await until(() => sink.lines.length > 0 && active(m, 'sink') === 1, 30_000), 'the sink attached')
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const burst = new Uint32Array(32)
  // Sends until the sink's RX ring is full, the manager holds what it took for it, and the rest
  // waits in gen's TX ring (however slowly a busy machine's manager refills gen's cache).
  t.true(await until(() => {
    const n = gen.malloc(burst)
    const sent = gen.tx(burst, n)
    if (sent < n) gen.free(burst.subarray(sent), n - sent)
    const s = m.snapshot()
    return s.manager.held > 0 && slotOf(s, 'gen')!.rings.tx.used > 0
  }), 'the sink\'s ring full, the manager holding, gen\'s TX ring waiting')
  sink.child.kill('SIGSTOP')
  const before = m.snapshot().manager
  t.true(await until(() => m.snapshot().manager.sleeps - before.sleeps >= 50, 5000), 'it sleeps between retries')
  const after = m.snapshot().manager
  t.true(after.loops - before.loops < 200 * (after.sleeps - before.sleeps), `loops ${after.loops - before.loops} for ${after.sleeps - before.sleeps} sleeps`)
  sink.child.kill('SIGCONT')
  gen.detach()
  await stop(sink)
  t.true(await poolWhole(m, 4096), `pool ${m.snapshot().pool.free} of 4096 after both left`)
  m.close()
})

test.serial('descriptors held for a full ring go back to the pool when the manager stops, and a restart goes on', async (t) => {
  const m = chain('restart', { buffers: 256, ringSize: 64, cacheSize: 32 })
  m.start()
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const burst = new Uint32Array(32)
  while (m.snapshot().manager.held === 0 || slotOf(m.snapshot(), 'sink')!.rings.rx.used < 64) {
    gen.tx(burst, gen.malloc(burst))
    await new Promise((r) => setTimeout(r, 2))
  }
  m.stop()
  t.true(m.snapshot().manager.dropped > 0, 'what it held was dropped, and counted')
  m.start()
  const got = new Uint32Array(64)
  for (let n; (n = sink.rxWait(got, 100)) > 0; ) sink.free(got, n)
  gen.detach()
  sink.detach()
  t.true(await poolWhole(m, 256), `pool ${m.snapshot().pool.free} of 256 after every endpoint left`)
  m.close()
})

test.serial('a packet longer than its buffer is dropped at TX and counted, never delivered', async (t) => {
  const m = chain('oversize')
  m.start()
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const bad = startFaulty('oversize', m.prefix, 'bad', { count: 4, lengths: [4000, 2 ** 24, 0xffffffff, 1857] })
  t.true(await until(() => m.snapshot().manager.oversize === 4))
  const s = slotOf(m.snapshot(), 'bad')!
  t.is(s.route.invalid, 4)
  t.is(s.route.txPackets, 0)
  t.is(sink.rx(new Uint32Array(8)), 0, 'nothing reached the sink')
  await stop(bad)
  sink.detach()
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('every packed action a sender may write in a TX entry, its output tapped by a capture: only valid ones route, the rest count as no route', async (t) => {
  const m = chain('every-action')
  m.start()
  const id = (name: string) => m.snapshot().services.find((s) => s.name === name)!.id
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const capture = attachCapture(m.prefix)
  t.true(capture.setTaps([{ service: id('bad'), kind: 'tx' }]))
  const bad = startFaulty('every-action', m.prefix, 'bad')
  // Take what reaches the sink and the capture as it comes, so neither ring fills.
  const got = new Uint32Array(64)
  const senders = new Map<number, number>()
  let copies = 0
  const take = () => {
    for (let n; (n = sink.rx(got)) > 0; sink.free(got, n)) for (let i = 0; i < n; i++) senders.set(sink.from(got[i]), (senders.get(sink.from(got[i])) ?? 0) + 1)
    for (let n; (n = capture.rx(got)) > 0; capture.free(got, n)) copies += n
  }
  t.true(await until(() => (take(), bad.lines.some((l) => l.mode === 'every-action')), 60_000), bad.stderr.join(''))
  const { sent, junk } = bad.lines.find((l) => l.mode === 'every-action')!
  t.is(sent, 0x8000)
  // Three of them lead to the sink: gate 0, the sink by name, and gate 0 of its own service by
  // a group's action; three back to itself: itself by name, and its own instance by number (a
  // handoff), with either tag. Every other packs nothing valid, or leads nowhere live, or is a
  // drop or, its low bit set, consumed: 65 of each, the argument above that bit naming no member
  // (0) or 1 + one of the 64 services a group's drop may be decided by (kDropAsShift).
  const bad_ = () => slotOf(m.snapshot(), 'bad')!.route
  t.true(await until(() => (take(), bad_().txPackets + bad_().noRoute + bad_().dropped + bad_().consumed === 0x8000)))
  t.deepEqual([...senders], [[id('bad'), 3]], 'the sink got three, each from bad')
  t.is(bad_().rxPackets, 3, 'bad got three: by its name, and by its instance number with each tag')
  t.is(bad_().dropped, 65, 'a drop as itself, and as each service it might serve')
  t.is(bad_().consumed, 65, 'and as many consumed')
  t.true(await until(() => (take(), copies === bad_().txPackets)), 'a copy of each packet sent on, none of the others')
  t.true(await until(() => m.snapshot().manager.invalid === junk), 'every junk free refused')
  await stop(bad)
  sink.detach()
  capture.detach()
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('an endpoint in its own pid namespace attaches, exchanges packets, and is reclaimed within a second of SIGKILL', async (t) => {
  const m = chain('pidns')
  m.start()
  const sink = startTrafficUnder(['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'], 'consume', m.prefix, 'sink')
  t.true(await until(() => active(m, 'sink') === 1), sink.stderr.join(''))
  t.is(slotOf(m.snapshot(), 'sink')!.pid, 1, 'it sees itself as pid 1 of its namespace')
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 10_000 })
  t.is((await finished(gen)).sent, 10_000)
  t.true(await until(() => delivered(m, 'sink') === 10_000))
  sink.child.kill('SIGKILL')
  await sink.exited
  t.true(await until(() => deaths(m, 'sink') === 1 && active(m, 'sink') === 0, 1000), 'reclaimed within a second')
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('a claimer killed half-way leaves its slot free for the next one', async (t) => {
  const m = chain('halfclaim', { slots: 1 })
  m.start()
  // A claimer that has taken slot 0's lease (a lock on byte 1 of the region) and nothing else.
  const lease = `import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1)
print('held', flush=True)
time.sleep(60)`
  const claimer = spawn('python3', ['-c', lease, `/dev/shm/xio.${m.prefix}`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(claimer.stdout!, 'data')
  await t.throwsAsync(attach({ prefix: m.prefix, name: 'gen' }), { message: /slots .* are taken/ })
  claimer.kill('SIGKILL')
  await once(claimer, 'exit')
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  t.is(gen.slot, 0)
  gen.detach()
  m.close()
})

test.serial('with sleepMs 0 the manager never sleeps, and still notices a death', async (t) => {
  const m = chain('nosleep')
  m.start({ sleepMs: 0, spinUs: 10 })
  const sink = startTraffic('consume', m.prefix, 'sink')
  t.true(await until(() => active(m, 'sink') === 1))
  const loops = m.snapshot().manager.loops
  t.true(await until(() => m.snapshot().manager.loops > loops + 10_000), 'it polls')
  sink.child.kill('SIGKILL')
  t.true(await until(() => deaths(m, 'sink') === 1, 2000), 'the death is noticed')
  t.is(m.snapshot().manager.sleeps, 0)
  m.close()
})

test.serial('counters add up: refused and dropped descriptors are not counted as sent, refused ones not as freed, and a death is its own service\'s', async (t) => {
  const m = chain('counters', { buffers: 256, cacheSize: 32, ringSize: 64 })
  m.start()
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const burst = new Uint32Array(4)
  t.is(gen.malloc(burst, 2), 2)
  for (let i = 0; i < 2; i++) gen.setLength(burst[i], 100)
  burst[2] = burst[0] // a duplicate
  burst[3] = 99_999 // not a buffer at all
  t.is(gen.tx(burst, 4), 4)
  t.true(await until(() => m.snapshot().manager.routed === 2 && slotOf(m.snapshot(), 'gen')!.route.invalid === 2))
  let route = slotOf(m.snapshot(), 'gen')!.route
  t.is(route.txPackets, 2, 'the two refused are not counted as sent')
  t.is(route.txBytes, 200, 'and bytes agree with packets')
  const dropped = new Uint32Array(3)
  t.is(gen.malloc(dropped), 3)
  for (const d of dropped) gen.drop(d)
  gen.tx(dropped)
  t.true(await until(() => slotOf(m.snapshot(), 'gen')!.route.dropped === 3))
  t.is(slotOf(m.snapshot(), 'gen')!.route.txPackets, 2, 'what it dropped is not counted as sent either')
  const junk = new Uint32Array([burst[1], 70_000])
  gen.free(junk, 2) // both refused: the first was sent already
  t.true(await until(() => slotOf(m.snapshot(), 'gen')!.route.invalid === 4))
  route = slotOf(m.snapshot(), 'gen')!.route
  t.is(route.freed, 0, 'refused frees are not counted as freed')
  t.is(m.snapshot().manager.invalid, 4)
  gen.detach()
  // The slot gen left is taken by another service's endpoint, which dies at once.
  const victim = startTraffic('hold', m.prefix, 'bad')
  t.true(await until(() => victim.lines.length > 0))
  victim.child.kill('SIGKILL')
  t.true(await until(() => deaths(m, 'bad') === 1))
  t.is(deaths(m, 'gen'), 0)
  const got = new Uint32Array(8)
  sink.free(got, sink.rxWait(got, 100))
  sink.detach()
  t.true(await poolWhole(m, 256))
  m.close()
})

test.serial('a service\'s totals never go back while its slot keeps changing occupants: an observer never counts a restart twice', async (t) => {
  // What Prometheus scrapes as counters: one read across the manager moving an old occupant's
  // counts into the totals would count them twice, and the next scrape would go back down.
  const m = chain('moving')
  m.start()
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 1_000_000, flows: 4, pauseMs: 1 })
  const churn = startChurn(m.prefix, 'sink', 300)
  let last = 0, reads = 0, backwards = 0
  while (churn.lines.length === 0 && churn.child.exitCode === null) {
    const received = m.snapshot().services.find((x) => x.name === 'sink')!.totals.rxPackets
    if (received < last) backwards++
    last = received
    reads++
    if (reads % 64 === 0) await new Promise((r) => setImmediate(r))
  }
  t.true(((await finished(churn)).received as number) >= 300, 'each of its occupants received packets')
  t.is(backwards, 0, `of ${reads} reads`)
  t.true(reads > 100, `${reads} reads`)
  gen.child.kill('SIGTERM')
  m.close()
})

test.serial('a delivery wakes rxWait even while a readable() waits on the same endpoint', async (t) => {
  const m = chain('waiters')
  m.start()
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const readable = sink.readable()
  // The producer sends once both waits are asleep (readable's pool thread and rxWait here).
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 1, whenAsleep: 'sink', waiters: 2 })
  const got = new Uint32Array(8)
  const started = Date.now()
  const n = sink.rxWait(got, 20_000)
  const waited = Date.now() - started
  t.is(n, 1)
  t.true(waited < 10_000, `rxWait returned after ${waited} ms, woken rather than timed out`)
  sink.free(got, n)
  await finished(gen)
  // The other waiter may have found the ring empty again; leaving releases it either way.
  sink.detach()
  await readable
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('three creators racing over a stale region, or a fresh prefix: exactly one wins every time', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { writeFileSync, existsSync } = await import('node:fs')
  const prefix = uniquePrefix('race')
  const file = `/dev/shm/xio.${prefix}`
  const control = new SharedArrayBuffer(8)
  const ctl = new Int32Array(control)
  const racer = new URL('../fixtures/create-racer.mjs', import.meta.url)
  const addonPath = new URL('../../build/Release/xio.node', import.meta.url).pathname
  const workers = [0, 1, 2].map(() => new Worker(racer, { workerData: { control, prefix, addonPath } }))
  const messages: { trial: number; kind: string; won?: boolean; code?: string }[] = []
  for (const w of workers) w.on('message', (msg) => messages.push(msg))
  const trials = 300
  let multipleWinners = 0, noWinner = 0, otherErrors = 0
  for (let trial = 1; trial <= trials; trial++) {
    if (trial % 2) writeFileSync(file, Buffer.alloc(64 * 1024, 0x5a)) // stale: sized, nobody's lease
    Atomics.store(ctl, 0, trial)
    Atomics.notify(ctl, 0)
    ensure(await until(() => messages.filter((x) => x.trial === trial && x.kind === 'result').length === 3, 10_000), 'racers answer')
    const results = messages.filter((x) => x.trial === trial && x.kind === 'result')
    const winners = results.filter((x) => x.won).length
    if (winners > 1) multipleWinners++
    if (winners === 0) noWinner++
    otherErrors += results.filter((x) => !x.won && x.code !== 'ALREADY_OWNED').length
    Atomics.store(ctl, 1, trial)
    Atomics.notify(ctl, 1)
    ensure(await until(() => messages.filter((x) => x.trial === trial && x.kind === 'closed').length === 3, 10_000), 'racers close')
    ensure(!existsSync(file), 'the winner removed its region')
  }
  Atomics.store(ctl, 0, -1)
  Atomics.notify(ctl, 0)
  await Promise.all(workers.map((w) => once(w, 'exit')))
  t.is(multipleWinners, 0, 'never two creators')
  t.is(noWinner, 0, 'never none')
  t.is(otherErrors, 0, 'every loser is told the prefix is owned')
})

test.serial('a view kept after detaching cannot write the slot it had: the write faults in the writer', async (t) => {
  const m = chain('afterdetach')
  m.start()
  const bad = startFaulty('write-after-detach', m.prefix, 'bad')
  t.is(await bad.signal, 'SIGSEGV')
  t.false(bad.lines.some((l) => l.wrote))
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  t.is(m.snapshot().slots[gen.slot].state, 'active', 'the next occupant is served')
  gen.detach()
  t.true(await poolWhole(m, 4096))
  m.close()
})

test.serial('a stale descriptor for a buffer delivered back to the same endpoint, still unread, is refused', async (t) => {
  const m = chain('rxstale', { buffers: 64, ringSize: 64, cacheSize: 32 })
  m.route('gen', 0, 'gen') // a loop: what gen sends comes back to it
  m.start()
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const one = new Uint32Array(1)
  t.is(gen.malloc(one, 1), 1)
  const d = one[0]
  gen.tx(one, 1)
  t.true(await until(() => slotOf(m.snapshot(), 'gen')!.rings.rx.used === 1))
  gen.free(one, 1) // the bug: it sent d, and d is back in its RX ring, unread
  t.true(await until(() => slotOf(m.snapshot(), 'gen')!.route.invalid === 1), 'the free is refused')
  const got = new Uint32Array(4)
  t.is(gen.rx(got), 1)
  t.is(got[0], d, 'd is still delivered, once')
  const sink = await attach({ prefix: m.prefix, name: 'sink' })
  const all = new Uint32Array(64)
  const n = sink.malloc(all)
  t.false(all.subarray(0, n).includes(d), 'and never handed to anyone else meanwhile')
  sink.free(all, n)
  gen.free(got, 1)
  gen.detach()
  sink.detach()
  t.true(await poolWhole(m, 64))
  m.close()
})

test.serial('a buffer held while millions of others pass through the same cache is still accepted when freed', async (t) => {
  const m = chain('wrap', { buffers: 16384, ringSize: 4096, cacheSize: 4096, slots: 4 })
  m.start()
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const kept = new Uint32Array(1)
  t.is(gen.malloc(kept, 1), 1)
  const burst = new Uint32Array(2048)
  let cycled = 0
  // More than 2^23 allocations: past the range a ring position can be judged in.
  while (cycled < (1 << 23) + 8192) {
    const n = gen.malloc(burst)
    gen.free(burst, n)
    cycled += n
  }
  gen.free(kept, 1)
  t.true(await until(() => m.snapshot().pool.free + slotOf(m.snapshot(), 'gen')!.rings.alloc.used === 16384))
  t.is(slotOf(m.snapshot(), 'gen')!.route.invalid, 0, 'nothing refused')
  gen.detach()
  t.true(await poolWhole(m, 16384))
  m.close()
})

test.serial('an endpoint that slept before the manager ran is woken by its first delivery', async (t) => {
  const m = chain('latewake')
  // Attached before the manager runs, it goes to sleep for up to 20 s.
  const sink = startTraffic('consume', m.prefix, 'sink', { waitMs: 20_000 })
  t.true(await until(() => sink.stderr.length > 0 || m.snapshot().slots.some((s) => s.name === 'sink'), 10_000))
  await until(() => m.snapshot().slots.some((s) => s.name === 'sink' && s.asleep > 0), 10_000)
  m.start()
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 1 })
  await finished(gen)
  t.true(await until(() => (slotOf(m.snapshot(), 'sink')?.rings.rx.dequeued ?? 0) === 1, 5000), 'read well before its 20 s timeout')
  await stop(sink)
  m.close()
})

test.serial('an endpoint that says it is leaving but keeps its lease shows as detaching, never free, until it lets go', async (t) => {
  const m = chain('retired', { slots: 2 })
  m.start()
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const view = gen.region
  view.u32[(view.slotOffset(gen.slot) + layout.endpointSide.claim) / 4] = layout.claimState.detaching
  view.u32[(view.doorbellOffset + layout.doorbell.claims) / 4] += 1
  t.true(await until(() => m.snapshot().manager.reclaimed > 0 || m.snapshot().slots[gen.slot].state === 'detaching'))
  await new Promise((r) => setTimeout(r, 100)) // several liveness rounds: it must stay detaching
  t.is(m.snapshot().slots[gen.slot].state, 'detaching')
  gen.detach()
  t.true(await until(() => m.snapshot().slots[gen.slot].state === 'free'))
  const next = await attach({ prefix: m.prefix, name: 'sink' })
  t.is(next.malloc(new Uint32Array(4)), 4, 'the next occupant is served')
  next.detach()
  m.close()
})

test.serial('free() in an endpoint that was cut off throws FAULTED instead of spinning', async (t) => {
  const m = chain('freefault', { ringSize: 64, cacheSize: 32 })
  m.start()
  const gen = await attach({ prefix: m.prefix, name: 'gen' })
  const burst = new Uint32Array(32)
  t.is(gen.malloc(burst), 32)
  const { producer } = gen.region.ringSides(gen.slot, 'tx')
  gen.region.u32[(producer + layout.ringProducer.head) / 4] += 1000 // impossible: cut off
  t.true(await until(() => m.snapshot().manager.faults === 1))
  const big = new Uint32Array(200).fill(burst[0])
  t.throws(() => gen.free(big), { message: /cut endpoint 'gen' off/ })
  gen.detach()
  m.close()
})

test.serial('what a sender transmitted before leaving reaches a receiver that was stopped for a while', async (t) => {
  const m = chain('slowreader')
  m.start()
  const sink = startTraffic('consume', m.prefix, 'sink')
  t.true(await until(() => active(m, 'sink') === 1))
  sink.child.kill('SIGSTOP')
  const gen = startTraffic('produce', m.prefix, 'gen', { count: 1500 })
  t.is((await finished(gen)).sent, 1500, 'sent, and gone')
  // More than a second with nothing moving: the leaving sender's slot waits for the receiver.
  const since = m.snapshot().manager.loops
  await until(() => m.snapshot().manager.sleeps > 0 && m.snapshot().manager.loops > since + 100, 5000)
  await new Promise((r) => setTimeout(r, 1500))
  sink.child.kill('SIGCONT')
  t.true(await until(() => delivered(m, 'sink') === 1500 && slotOf(m.snapshot(), 'sink')!.rings.rx.used === 0), `delivered ${delivered(m, 'sink')}`)
  const r = await stop(sink)
  t.is(r.received, 1500)
  t.is(r.outOfOrder, 0)
  t.true(await poolWhole(m, 4096))
  m.close()
})
