// Paths through a placement group that a member-to-member call must not take: a loop among the
// members (the group's process would call round it for ever, reading nothing more), and a
// packet whose flow hash a member changed (another instance of the group may own that flow).
// Both go on through the manager instead, as they would between NFs that run alone.
import test from 'ava'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RegionSnapshot } from '../../src/xio/index.ts'
import { startXioChain } from '../helpers/cli.ts'
import { observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

test.after.always(removeLeftoverRegions)

const dir = scratchDir('group-paths')
// Sends every packet back out of gate 'again', for ever.
writeFileSync(join(dir, 'bounce.mjs'), `export default { name: 'bounce', gates: ['again', 'out'], create: () => ({ process: () => 0 }) }\n`)
// Gives every packet one flow hash; the packets then belong to one instance downstream.
writeFileSync(join(dir, 'steer.mjs'), `export default { name: 'steer', gates: ['out'], create: () => ({ process(p) { p.flowHash = 0x12345; return 0 } }) }\n`)
// Counts what it sees, under its counter 'seen'.
writeFileSync(join(dir, 'count.mjs'), `export default { name: 'count', gates: ['out'], create() { let seen = 0; return { process() { seen++; return 0 }, counters: () => ({ seen }) } } }\n`)

const active = (s: RegionSnapshot) => s.slots.filter((x) => x.state === 'active')

async function stopped(chain: ReturnType<typeof startXioChain>, prefix: string) {
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  return { code: code as number | null, regionLeft: existsSync(`/dev/shm/xio.${prefix}`) }
}

test('a loop among a group\'s members goes round through the manager: the group\'s process keeps reading its ring', async (t) => {
  const spec = join(dir, 'loop.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      gen: { kind: 'generator', count: 50 },
      x: { kind: 'nf', module: join(dir, 'bounce.mjs'), group: 'g' },
      y: { kind: 'nf', module: join(dir, 'bounce.mjs'), group: 'g' },
      out: { kind: 'sink' },
    },
    links: ['gen -> x', 'x.again -> y', 'y.again -> x', 'x.out -> out', 'y.out -> out'],
  }))
  const prefix = uniquePrefix('group-loop')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (active(s).find((x) => x.name === 'gen')?.route.txPackets ?? 0) === 50)
  t.truthy(o, chain.output())
  // The 50 packets come back to the group's slot again and again: each time round, the process
  // took them from its ring (called round for ever, it would have taken the first 50 only).
  const taken = () => active(o!.view.snapshot()).find((x) => x.name === 'x')?.route.rxPackets ?? 0
  t.true(await until(() => taken() > 10_000, 10_000), `the group's slot took ${taken()}`)
  o!.close()
  const end = await stopped(chain, prefix)
  // They never leave the loop: stopping drops them, says so, and ends as usual.
  t.is(end.code, 0, chain.output().slice(-2000))
  t.regex(chain.output(), /50 buffers were still in use after \d+ s \(packets in flight, or kept by an NF(: x \d+)?\); they are dropped/)
  t.false(end.regionLeft)
})

test('a member that changes a packet\'s flow hash sends it on through the manager, to the instance of the group that owns the new hash', async (t) => {
  const spec = join(dir, 'steer.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      gen: { kind: 'generator', count: 2000, flows: 64, rate: 20000 },
      s: { kind: 'nf', module: join(dir, 'steer.mjs'), group: 'g', instances: 2 },
      k: { kind: 'nf', module: join(dir, 'count.mjs'), group: 'g', instances: 2 },
      out: { kind: 'sink' },
    },
    links: ['gen -> s', 's -> k', 'k -> out'],
  }))
  const prefix = uniquePrefix('group-steer')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (active(s).find((x) => x.name === 'out')?.route.rxPackets ?? 0) === 2000)
  t.truthy(o, chain.output())
  // Each group process publishes k's counter as '@k/seen' (a member's own, in the group's slot).
  const seen = () => active(o!.view.snapshot()).filter((x) => x.name === 's').map((x) => x.nf['@k/seen'] ?? 0)
  t.true(await until(() => seen().reduce((a, b) => a + b, 0) === 2000, 5000), `k saw ${seen()}`)
  t.deepEqual(seen().sort((a, b) => a - b), [0, 2000], 'one instance saw every packet: the one the new hash picks')
  o!.close()
  const end = await stopped(chain, prefix)
  t.is(end.code, 0, chain.output().slice(-2000))
  t.false(end.regionLeft)
})
