// Chaos: under steady generator load, a random NF instance is killed with SIGKILL every 2 s for
// a minute. Every killed instance is replaced (how fast is a figure of `npm run bench -- --only
// restart`, not a bound here, where the test shares two CPUs with the suite); the packets lost
// are no more than the dead processes held (the manager reclaims them, counted); the chain's
// counters add up, for the chain and for each endpoint across all its instances (in = out +
// counted drops + lost with its dead); and once the traffic is through, every buffer is back
// in the pool.
import test from 'ava'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RegionSnapshot } from '../../src/xio/index.ts'
import { startXioChain } from '../helpers/cli.ts'
import { observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const CHAOS_MS = 60_000
const KILL_EVERY_MS = 2000
const RATE = 20_000

const dir = scratchDir('chaos')
const spec = join(dir, 'chain.json')
writeFileSync(spec, JSON.stringify({
  endpoints: {
    // Enough packets for the minute of chaos and a little more, then the source stops.
    traffic: { kind: 'generator', rate: RATE, flows: 64, count: RATE * (CHAOS_MS / 1000 + 5) },
    fw: { kind: 'firewall', instances: 2, config: { default: 'allow' } },
    fwd: { kind: 'l2fwd', instances: 2 },
    sink: { kind: 'sink' },
  },
  links: ['traffic -> fw', 'fw -> fwd', 'fwd -> sink'],
}))

const active = (s: RegionSnapshot) => s.slots.filter((x) => x.state === 'active')
const nfInstances = (s: RegionSnapshot) => active(s).filter((x) => x.name === 'fw' || x.name === 'fwd')

test('a random NF instance killed every 2 s for a minute: every one is replaced, losses bounded by what the dead held, counters add up, the pool refills', async (t) => {
  t.timeout(CHAOS_MS + 90_000)
  const prefix = uniquePrefix('chaos')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix, '--max-restarts', '1000'])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => nfInstances(s).length === 4)
  t.truthy(o, chain.output())
  const view = o!.view
  const sinkRx = (s: RegionSnapshot) => active(s).find((x) => x.name === 'sink')?.route.rxPackets ?? 0
  t.true(await until(() => sinkRx(view.snapshot()) > 0, 10_000), 'traffic flows before the chaos')

  // Pick a victim by a seeded sequence, so a failure can be replayed.
  let seed = 12345
  const restarts: number[] = []
  const kills = new Map<string, number>()
  const started = performance.now()
  while (performance.now() - started < CHAOS_MS) {
    const before = nfInstances(view.snapshot())
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    const victim = before[(seed >>> 16) % before.length]  // the high bits: an LCG's low bits cycle
    process.kill(victim.pid, 'SIGKILL')
    kills.set(victim.name, (kills.get(victim.name) ?? 0) + 1)
    const killed = performance.now()
    // Back: as many instances as before, the victim's replaced by a new process.
    const back = await until(() => {
      const now = nfInstances(view.snapshot())
      return now.length === 4 && !now.some((x) => x.pid === victim.pid)
    }, 20_000, 5)
    t.true(back, `${victim.name} (pid ${victim.pid}) was not restarted within 20 s: ${chain.output()}`)
    restarts.push(performance.now() - killed)
    await new Promise((r) => setTimeout(r, Math.max(0, KILL_EVERY_MS - (performance.now() - killed))))
  }
  restarts.sort((a, b) => a - b)
  t.log(`${restarts.length} kills (${[...kills].map(([n, k]) => `${n} ${k}`).join(', ')}); restart took median ${restarts[restarts.length >> 1].toFixed(0)} ms, worst ${restarts.at(-1)!.toFixed(0)} ms`)

  // The source runs out; everything still in flight reaches the sink.
  let settled: RegionSnapshot | undefined
  t.true(await until(() => {
    const s = view.snapshot()
    const stable = settled !== undefined && sinkRx(s) === sinkRx(settled) && s.pool.inUse === 0
    settled = s
    return stable && (active(s).find((x) => x.name === 'traffic')?.route.txPackets ?? 0) >= RATE * (CHAOS_MS / 1000 + 5)
  }, 60_000, 500), 'the traffic ran out and drained')
  const s = settled!
  const sent = active(s).find((x) => x.name === 'traffic')!.route.txPackets
  const received = sinkRx(s)
  const counted = s.manager.noRoute + s.manager.dropped + s.manager.invalid
  const lost = sent - received - counted
  t.log(`sent ${sent}, received ${received}, counted drops ${counted} (no route ${s.manager.noRoute}), lost with the dead ${lost}, reclaimed ${s.manager.reclaimed} buffers in ${s.manager.deaths} deaths`)
  t.true(lost >= 0, 'nothing arrives that was not sent')
  t.is(lost, s.manager.lost, 'every packet that went with the dead is counted lost, and nothing else is')
  t.true(lost <= s.manager.reclaimed, `lost ${lost} > the ${s.manager.reclaimed} buffers the dead held`)
  t.is(s.manager.deaths, restarts.length)
  t.is(s.pool.inUse, 0, 'every buffer back in the pool')

  // Per endpoint, over every instance it had (the dead ones' counts kept by the region): what
  // came in went out or was counted as dropped, but for what its dead instances held; what one
  // endpoint passed on, the next received.
  const totals = (name: string) => s.services.find((x) => x.name === name)!.totals
  for (const name of ['fw', 'fwd']) {
    const e = totals(name)
    const unaccounted = e.rxPackets - e.txPackets - e.dropped - e.noRoute - e.invalid
    t.log(`${name}: in ${e.rxPackets} = out ${e.txPackets} + drops ${e.dropped + e.noRoute + e.invalid} + lost with its dead ${unaccounted} (counted lost ${e.lost}, its dead held ${e.reclaimed} buffers)`)
    // Its count of lost also has what its dead had sent that the manager held for a full receiver.
    t.true(unaccounted >= 0 && unaccounted <= e.lost, `${name}: ${unaccounted} packets neither passed on nor counted, against ${e.lost} counted lost`)
  }
  for (const [from, to] of [['traffic', 'fw'], ['fw', 'fwd'], ['fwd', 'sink']]) {
    const gap = totals(from).txPackets - totals(to).rxPackets
    // Passed on, then found no live instance at delivery (the sender's no route), or held for a
    // full receiver when the sender died (lost with the sender).
    t.true(gap >= 0 && gap <= totals(from).noRoute + totals(from).lost, `${from} passed on ${totals(from).txPackets}, ${to} received ${totals(to).rxPackets}`)
  }
  t.is(totals('traffic').txPackets, sent)
  t.is(totals('sink').rxPackets, received)
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output())
})
