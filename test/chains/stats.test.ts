// The plain stats lines of `run --no-tui`: what was really dropped is told apart from what a
// full ring pushed back (the sender keeps those and retries, so nothing is lost).
import test from 'ava'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { groupLabels, statsLines } from '../../src/cli/stats.ts'
import { checkChain } from '../../src/chain/spec.ts'
import { brakeNf } from '../helpers/brake.ts'
import { root, startXioChain } from '../helpers/cli.ts'
import { activeSlot, observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { ring, snapshot } from '../tui/snapshots.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

test('ring refusals are backpressure, not drops', (t) => {
  const at = (time: number, refused: number, dropped: number) =>
    snapshot({ time, slots: [{ name: 'nat', service: 3, slot: 0, rx: 1000 + time, tx: 1000 + time, dropped, txRing: ring(0, 1024, 0, refused) }] })
  const line = statsLines(at(0, 0, 0), at(1000, 3200, 5)).find((l) => l.startsWith('nat'))!
  t.regex(line, /drop +5pps +backpressure +3\.2k\/s/)
  t.regex(line, /total rx \d+ tx \d+ drop 5 backpressure 3200$/)
})

test('an endpoint that has its share of the pool says so on its line; the others do not', (t) => {
  const at = (time: number) => snapshot({ time, slots: [
    { name: 'nat', service: 3, slot: 0, rx: time, tx: 0, buffers: 4096 },
    { name: 'fw', service: 2, slot: 1, rx: time, tx: time, buffers: 300 },
  ] })
  const lines = statsLines(at(0), at(1000))
  t.regex(lines.find((l) => l.startsWith('nat'))!, /holds its share of the pool \(4096 buffers\): given no more$/)
  t.notRegex(lines.find((l) => l.startsWith('fw'))!, /share/)
})

test('the manager\'s line tells of captures while one taps the chain or its last copies came in the interval, not for the rest of the run', (t) => {
  const at = (time: number, taps: number, captured: number) => {
    const s = snapshot({ time, slots: [] })
    return { ...s, manager: { ...s.manager, taps, captured } }
  }
  const manager = (a: ReturnType<typeof at>, b: ReturnType<typeof at>) => statsLines(a, b).find((l) => l.startsWith('manager'))!
  t.regex(manager(at(0, 1, 0), at(1000, 1, 500)), /capture: 1 taps, copies 500\/s, lost 0$/)
  t.regex(manager(at(1000, 1, 500), at(2000, 0, 600)), /capture: 0 taps, copies 100\/s/, 'its last copies')
  t.notRegex(manager(at(2000, 0, 600), at(3000, 0, 600)), /capture/, 'then nothing')
})

test('a restarted NF\'s line carries on from its totals: neither they nor its rate fall back to zero', (t) => {
  const before = snapshot({ time: 0, slots: [{ name: 'nat', service: 3, slot: 0, rx: 5000, tx: 5000 }] })
  const after = snapshot({ time: 1000, slots: [{ name: 'nat', service: 3, slot: 0, generation: 2, rx: 200, tx: 200 }] })
  // As the region keeps them: the first instance's counts went to the service's totals.
  after.services[3].totals.rxPackets += 5000
  after.services[3].totals.txPackets += 5000
  const line = statsLines(before, after).find((l) => l.startsWith('nat'))!
  t.regex(line, /^nat +rx +200pps/)
  t.regex(line, /total rx 5200 tx 5200 /)

  // Caught while a reload restarts it: no row then, and no burst after.
  const between = (time: number, deaths = 0) => {
    const s = snapshot({ time, slots: [], deaths: { nat: deaths } })
    s.services[3].totals.rxPackets = s.services[3].totals.txPackets = 5000
    return s
  }
  t.false(statsLines(before, between(500)).some((l) => l.startsWith('nat')), 'no row while none runs')
  t.regex(statsLines(between(0), after).find((l) => l.startsWith('nat'))!, /^nat +rx +200pps/)
  // Between its death and its restart (or while changed code of it is refused): a row says so.
  t.regex(statsLines(before, between(500, 1)).find((l) => l.startsWith('nat'))!, /^nat +down: no instance running, 1 death so far  total rx 5000 tx 5000 drop 0$/)
  // With what died with it, counted among its drops.
  const lossy = between(500, 2)
  lossy.services[3].totals.lost = 37
  t.regex(statsLines(before, lossy).find((l) => l.startsWith('nat'))!, /^nat +down: no instance running, 2 deaths so far, 37 packets lost with them  total rx 5000 tx 5000 drop 37$/)
  // Unless the chain it died in runs it no more (a reload took it away).
  t.false(statsLines(before, between(500, 2), new Map(), new Set(['fw'])).some((l) => l.startsWith('nat')))
  t.true(statsLines(before, between(500, 2), new Map(), new Set(['nat'])).some((l) => l.startsWith('nat    ') && l.includes('2 deaths so far')))
})

test('a placement group\'s row is labelled with the group and its members, not its first member alone', (t) => {
  const at = (time: number) => snapshot({ time, slots: [{ name: 'fw', service: 2, slot: 0, rx: time, tx: time }] })
  const chain = checkChain('x.json', {
    endpoints: { gen: { kind: 'generator' }, fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } }, nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1' } }, out: { kind: 'sink' } },
    links: ['gen -> fw', 'fw -> nat', 'nat.outside -> out'],
  })
  const lines = statsLines(at(0), at(1000), groupLabels(chain))
  t.true(lines[0].startsWith('edge(fw+nat) rx '), lines[0])
})

// The report behind this: a full-rate fw-nat run showed the NAT at "drop 3.2Mpps" while the
// sink received every packet. Here a brake NF between fw and nat stops reading until the
// firewall's TX ring has refused packets (backpressure, seen in the region, not waited for);
// once released, every packet arrives and the lines count no drop, only backpressure.
test('a chain under backpressure: every packet reaches the sink, the lines say backpressure and drop 0', async (t) => {
  const dir = scratchDir('stats-backpressure')
  const brake = brakeNf(dir)
  const count = 20_000
  const fixture = JSON.parse(readFileSync(join(root, 'test/fixtures/fw-nat-generator.json'), 'utf8'))
  const { rate: _, ...lan } = fixture.endpoints.lan
  const spec = join(dir, 'chain.json')
  writeFileSync(spec, JSON.stringify({
    pool: { buffers: 4096, ringSize: 256 },
    endpoints: { ...fixture.endpoints, lan: { ...lan, count }, brake: brake.endpoint },
    links: ['lan -> fw', 'fw -> brake', 'brake -> nat', 'nat.outside -> wan', 'nat.inside -> lan'],
  }))
  const prefix = uniquePrefix('backpressure')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (activeSlot(s, 'fw')?.rings.tx.refused ?? 0) > 0, 60_000)
  t.truthy(o, `the firewall's TX ring never filled: ${chain.output()}`)
  t.teardown(() => o!.close())
  brake.release()
  t.true(await until(() => (activeSlot(o!.view.snapshot(), 'wan')?.route.rxPackets ?? 0) === count, 60_000), chain.output())
  chain.kill('SIGINT')
  await once(chain, 'close') // its final lines read, not just its exit
  const totals = new Map([...chain.output().matchAll(/^(\S+) +rx .* total rx (\d+) tx (\d+) drop (\d+) backpressure (\d+)$/gm)]
    .map((m) => [m[1], { rx: +m[2], tx: +m[3], drop: +m[4], backpressure: +m[5] }]))
  t.deepEqual([...totals.keys()].sort(), ['brake', 'fw', 'lan', 'nat', 'wan'], chain.output())
  for (const [name, c] of totals) t.is(c.drop, 0, `${name} dropped nothing`)
  t.true(totals.get('fw')!.backpressure > 0, 'the firewall was pushed back')
  t.is(totals.get('lan')!.tx, count)
  t.is(totals.get('wan')!.rx, count)
})
