// A hung NF: its process() never returns (a loop without end), so it decides nothing more while
// packets wait on its RX ring and its output has room. The launcher finds it within
// HUNG_AFTER_MS and a second, kills it and restarts it as after a crash, saying why; the chain
// goes on. An NF that is only slow, a burst of its taking longer than HUNG_AFTER_MS, decides
// packets one by one meanwhile and is left alone.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { closeSync, existsSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { HUNG_AFTER_MS } from '../../src/chain/launcher.ts'
import { observe, type Observer } from '../../src/xio/index.ts'
import { layout } from '../../src/xio/native.ts'
import { startXioChain } from '../helpers/cli.ts'
import { activeSlot, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

test.after.always(removeLeftoverRegions)

const dir = scratchDir('hung')
// Loops for ever on its first packet, once: the marker file says a restarted one must not.
writeFileSync(join(dir, 'stuck.mjs'), `
import { closeSync, existsSync, openSync, writeFileSync, writeSync } from 'node:fs'
export default {
  name: 'stuck',
  gates: ['out'],
  create: (config) => ({
    process() {
      if (!existsSync(config.marker)) {
        writeFileSync(config.marker, '')
        for (;;) {}
      }
      return 0
    },
  }),
}
`)
// 200 ms a packet (asleep, leaving the CPU to the others): slow, never hung, though a burst of
// more than 25 packets takes it longer than HUNG_AFTER_MS.
writeFileSync(join(dir, 'slow.mjs'), `
const nap = new Int32Array(new SharedArrayBuffer(4))
export default {
  name: 'slow',
  gates: ['out'],
  create: () => ({
    process() {
      Atomics.wait(nap, 0, 0, 200)
      return 0
    },
  }),
}
`)

/** Runs a chain of these endpoints and links (its NFs' modules beside it), observed; both go with the test. */
async function runChain(t: ExecutionContext, name: string, endpoints: object, links: string[]) {
  const spec = join(dir, `${name}.json`)
  writeFileSync(spec, JSON.stringify({ endpoints, links }))
  const prefix = uniquePrefix(name)
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeChain(prefix)
  t.teardown(() => o.close())
  return { chain, o, prefix }
}

/** Ctrl-C: the chain stops cleanly (its NFs stopped, its region removed) with status 0. */
async function stopsCleanly(t: ExecutionContext, chain: ReturnType<typeof startXioChain>) {
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-2000))
}

async function observeChain(prefix: string): Promise<Observer> {
  let o: Observer | undefined
  await until(() => {
    try {
      o ??= observe(prefix)
      return true
    } catch {
      return false
    }
  }, 20_000, 50)
  return o!
}

test('a hung NF is killed and restarted, saying why, and the packets then flow; a slow one is left alone', async (t) => {
  const marker = join(dir, 'stuck.started')
  const { chain, o } = await runChain(t, 'hung', {
    gen: { kind: 'generator', rate: 2000, flows: 4 },
    stuck: { kind: 'nf', module: './stuck.mjs', config: { marker } },
    out: { kind: 'sink' },
    gen2: { kind: 'generator', rate: 20, flows: 4 },
    slow: { kind: 'nf', module: './slow.mjs' },
    out2: { kind: 'sink' },
  }, ['gen -> stuck', 'stuck -> out', 'gen2 -> slow', 'slow -> out2'])
  const said = /NF 'stuck' \(pid \d+\) hung: decided none of the (\d+) packets waiting for it in 5 s; killed it; restarting it/
  const hung = await until(() => said.test(chain.output()), HUNG_AFTER_MS + 15_000)
  t.true(hung, chain.output())
  t.true(existsSync(marker))
  // What waited for it, and the packet it hung on, went with it: counted as lost, so as drops.
  const waiting = Number(said.exec(chain.output())![1])
  const lost = () => o.view.snapshot().services.find((x) => x.name === 'stuck')!.totals.lost
  t.true(await until(() => lost() > waiting, 10_000), `${lost()} counted lost, ${waiting} were waiting`)
  const outAfter = activeSlot(o.view.snapshot(), 'out')?.route.rxPackets ?? 0
  t.true(await until(() => (activeSlot(o.view.snapshot(), 'out')?.route.rxPackets ?? 0) > outAfter + 500, 20_000), 'the restarted NF passes packets on')
  // The slow NF, 5 packets a second against 20 offered, took bursts of more than 25 packets,
  // each over 5 s, as its backlog grew; it ran on, its first process the whole time.
  const slowPid = activeSlot(o.view.snapshot(), 'slow')!.pid
  t.true(await until(() => (activeSlot(o.view.snapshot(), 'slow')?.endpoint.decided ?? 0) >= 60, 30_000), 'the slow NF decided 60 packets')
  t.true((activeSlot(o.view.snapshot(), 'slow')?.rings.rx.used ?? 0) > 25, 'a backlog of more than a 5 s burst waited for it')
  t.is(activeSlot(o.view.snapshot(), 'slow')?.pid, slowPid)
  t.false(/NF 'slow'/.test(chain.output()), chain.output())
  await stopsCleanly(t, chain)
})

test('a hung NF that writes another NF\'s pid into its slot is still the one killed: the launcher knows its processes by what the manager serves them as', async (t) => {
  const marker = join(dir, 'impostor.started')
  const { chain, o, prefix } = await runChain(t, 'impostor', {
    gen: { kind: 'generator', rate: 2000, flows: 4 },
    stuck: { kind: 'nf', module: './stuck.mjs', config: { marker } },
    out: { kind: 'sink' },
    gen2: { kind: 'generator', rate: 200, flows: 4 },
    victim: { kind: 'l2fwd' },
    out2: { kind: 'sink' },
  }, ['gen -> stuck', 'stuck -> out', 'gen2 -> victim', 'victim -> out2'])
  t.true(await until(() => existsSync(marker) && activeSlot(o.view.snapshot(), 'victim') !== undefined, 20_000), chain.output())
  const stuck = activeSlot(o.view.snapshot(), 'stuck')!
  const victimPid = activeSlot(o.view.snapshot(), 'victim')!.pid
  // What the stuck NF's process could write, as it may its own slot: the victim's pid.
  const fd = openSync(`/dev/shm/xio.${prefix}`, 'r+')
  const word = Buffer.alloc(4)
  word.writeUInt32LE(victimPid)
  writeSync(fd, word, 0, 4, o.view.slotOffset(stuck.slot) + layout.endpointSide.pid)
  closeSync(fd)
  t.is(activeSlot(o.view.snapshot(), 'stuck')?.pid, victimPid)
  const hung = await until(() => /NF 'stuck' \(pid \d+\) hung: decided none/.test(chain.output()), HUNG_AFTER_MS + 15_000)
  t.true(hung, chain.output())
  t.false(/NF 'victim'/.test(chain.output()), chain.output())
  t.is(activeSlot(o.view.snapshot(), 'victim')?.pid, victimPid, 'the victim runs on, its first process')
  await stopsCleanly(t, chain)
})

test('a launcher killed with -9 takes its NF processes with it, one hung in process() too', async (t) => {
  const marker = join(dir, 'orphan.started')
  const { chain, o } = await runChain(t, 'orphan', {
    gen: { kind: 'generator', rate: 1000, flows: 4 },
    stuck: { kind: 'nf', module: './stuck.mjs', config: { marker } },
    fwd: { kind: 'l2fwd' },
    out: { kind: 'sink' },
  }, ['gen -> stuck', 'stuck -> fwd', 'fwd -> out'])
  t.true(await until(() => existsSync(marker) && activeSlot(o.view.snapshot(), 'fwd') !== undefined, 20_000), chain.output())
  const nfs = ['stuck', 'fwd'].map((name) => activeSlot(o.view.snapshot(), name)!.pid)
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  t.true(nfs.every(alive))
  chain.kill('SIGKILL')
  await once(chain, 'exit')
  // The hung one never looks for its manager: the kernel ends it with its parent.
  t.true(await until(() => !nfs.some(alive), 5_000), `still running: ${nfs.filter(alive).join(', ')}`)
})
