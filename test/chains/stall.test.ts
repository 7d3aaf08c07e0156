// A send that cannot go on: the NF runner waits for room on its TX ring as long as it takes,
// and once its send has moved nothing for a while (ParkedRx.AFTER_MS) it reads its own RX ring
// meanwhile, the packets waiting in the process, in order, to be decided next
// (src/xio/parked-rx.ts). Without that, a process that both sends to an NF and receives from
// it (a placement group with that NF between two of its members) could wait on it for ever,
// each side's packets held by the manager for the other's full RX ring.
import test from 'ava'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RegionSnapshot } from '../../src/xio/index.ts'
import { brakeNf } from '../helpers/brake.ts'
import { startXioChain } from '../helpers/cli.ts'
import { activeSlot, observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const dir = scratchDir('stall')
const delivered = (s: RegionSnapshot, name: string) => activeSlot(s, name)?.route.rxPackets ?? 0

// Rings of 64 and a pool of 2048: the rings and the manager's held burst between the generator
// and the stopped NF take about 350 packets; more than 1000 reach the firewall only if it reads
// its RX ring while its own send waits.
test('an NF whose send is stopped reads on, and once it moves every packet arrives', async (t) => {
  const count = 20_000
  const brake = brakeNf(dir)
  const spec = join(dir, 'stopped.json')
  writeFileSync(spec, JSON.stringify({
    pool: { buffers: 2048, ringSize: 64 },
    endpoints: {
      lan: { kind: 'generator', flows: 16, count },
      fw: { kind: 'firewall', config: { default: 'allow' } },
      brake: brake.endpoint,
      wan: { kind: 'sink' },
    },
    links: ['lan -> fw', 'fw -> brake', 'brake -> wan'],
  }))
  const prefix = uniquePrefix('stall-stopped')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => delivered(s, 'fw') > 1000, 60_000)
  t.truthy(o, `the firewall took no more than its rings hold: ${chain.output()}`)
  t.teardown(() => o!.close())
  t.is(delivered(o!.view.snapshot(), 'wan'), 0, 'nothing passed the stopped NF')
  brake.release()
  t.true(await until(() => delivered(o!.view.snapshot(), 'wan') === count, 60_000), `wan received ${delivered(o!.view.snapshot(), 'wan')} of ${count}`)
  chain.kill('SIGINT')
  await once(chain, 'close')
  t.regex(chain.output(), /^fw +rx .* drop 0 backpressure \d+$/m, 'the firewall dropped nothing')
})

// The report's topology under a flood: rings of 64 made the two wait on each other within a
// second or two in most runs before.
test('a group with an NF outside it between two members carries a flood, all of it', async (t) => {
  const count = 300_000
  const spec = join(dir, 'cycle.json')
  writeFileSync(spec, JSON.stringify({
    pool: { ringSize: 64 },
    endpoints: {
      lan: { kind: 'generator', flows: 64, count },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
      ids: { kind: 'firewall', config: { default: 'allow' } },
      nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/16' } },
      wan: { kind: 'sink' },
    },
    links: ['lan -> fw', 'fw -> ids', 'ids -> nat', 'nat.inside -> fw', 'nat.outside -> wan'],
  }))
  const prefix = uniquePrefix('stall-cycle')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => delivered(s, 'wan') > 0, 60_000)
  t.truthy(o, chain.output())
  t.teardown(() => o!.close())
  t.true(await until(() => delivered(o!.view.snapshot(), 'wan') === count, 60_000), `wan received ${delivered(o!.view.snapshot(), 'wan')} of ${count}`)
  t.is(delivered(o!.view.snapshot(), 'ids'), count, 'every packet left the group for ids and came back into it')
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-2000))
})
