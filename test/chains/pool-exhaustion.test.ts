// A slow NF behind a fast source: its rings fill, the pool runs dry, the source counts the
// allocations that failed, and nothing deadlocks: once the NF catches up, traffic flows again
// and every buffer comes back.
import test from 'ava'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RegionSnapshot } from '../../src/xio/index.ts'
import { brakeNf } from '../helpers/brake.ts'
import { startXioChain } from '../helpers/cli.ts'
import { activeSlot, observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const dir = scratchDir('exhaustion')
// Slow while the test holds its brake file (each packet costs delayUs of busy work), then as
// fast as it can (test/fixtures/brake-nf.mjs). The test lifts the brake once it has seen the
// pool dry, not after a fixed time, so a machine slow to start the chain cannot miss the dry spell.
const brake = brakeNf(dir, { delayUs: 500 })
const spec = join(dir, 'chain.json')
writeFileSync(spec, JSON.stringify({
  pool: { buffers: 256, ringSize: 128 },
  endpoints: {
    traffic: { kind: 'generator', flows: 8 },
    slow: brake.endpoint,
    sink: { kind: 'sink' },
  },
  links: ['traffic -> slow', 'slow -> sink'],
}))


test('a slow NF with full rings and a dry pool: the source counts failed allocations, nothing deadlocks, traffic resumes', async (t) => {
  const prefix = uniquePrefix('dry')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => activeSlot(s, 'slow') !== undefined)
  t.truthy(o, chain.output())
  const view = o!.view
  // While the NF is slow: the pool runs dry and the generator's allocations fail, counted.
  let dry: RegionSnapshot | undefined
  let last: RegionSnapshot | undefined
  t.true(await until(() => {
    const s = view.snapshot()
    last = s
    if ((activeSlot(s, 'traffic')?.endpoint.mallocFails ?? 0) > 0 && s.pool.free === 0) dry = s
    return dry !== undefined
  }, 10_000, 5), `the pool ran dry and the source counted failed allocations: ${JSON.stringify({ pool: last?.pool, traffic: last && activeSlot(last, 'traffic')?.endpoint })}`)
  const slowRing = activeSlot(dry!, 'slow')!.rings.rx
  t.log(`dry: pool ${dry!.pool.inUse}/${dry!.pool.buffers} in use, ${dry!.pool.cached} in endpoint caches, none free, slow's rx ring ${slowRing.used}/${slowRing.size}, generator malloc failures ${activeSlot(dry!, 'traffic')!.endpoint.mallocFails}`)
  // Once it catches up: the sink receives many times what the pool holds, so buffers went round.
  const atDry = activeSlot(dry!, 'sink')?.route.rxPackets ?? 0
  brake.release()
  t.true(await until(() => (activeSlot(view.snapshot(), 'sink')?.route.rxPackets ?? 0) > atDry + 50 * 256, 30_000, 20), 'traffic resumed')
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output())
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'no region left')
})
