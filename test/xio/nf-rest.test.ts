// An idle NF sleeps: once no packet has come for a second, the runner calls the NF's idle()
// instead of tick(), as often as it asks, and between calls rests on an RxWaiter, off the event
// loop, until packets come, a call is due, or something interrupts the rest (a stop, a reload).
import test from 'ava'
import { readFileSync } from 'node:fs'
import { attach, createNF, defineNF, Manager, runNF, RxWaiter, type PendingConfig } from '../../src/xio/index.ts'
import { removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

/** Times this process's main thread has gone to sleep of its own accord so far. */
function mainThreadSleeps(): number {
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8'))![1])
}

type Call = { what: 'process' | 'tick' | 'idle' | 'config'; at: number }

/** An NF that passes every packet on and writes down when each of its functions was called. */
function recorder(calls: Call[], idleAnswers: number[]) {
  return defineNF<{ tag: string }>({
    gates: ['out'],
    create: () => ({
      process: () => {
        calls.push({ what: 'process', at: performance.now() })
        return 0
      },
      tick: (now) => void calls.push({ what: 'tick', at: now }),
      idle: (now) => {
        calls.push({ what: 'idle', at: now })
        return idleAnswers.shift() ?? Infinity
      },
      reconfigure: () => void calls.push({ what: 'config', at: performance.now() }),
    }),
  })
}

test.serial('an idle NF: idle() a second after its last packet and when it asks, a rest between, a tick before the next packet; a stop or a config ends the rest', async (t) => {
  // Rests of a minute: everything below that needs one cut short fails by this timeout instead.
  t.timeout(30_000)
  const m = Manager.create({ prefix: uniquePrefix('nf-rest'), buffers: 1024 })
  for (const name of ['src', 'nf', 'dst']) m.declare(name)
  m.route('src', 0, 'nf')
  m.route('nf', 0, 'dst')
  m.start()
  const [src, nf, dst] = await Promise.all(['src', 'nf', 'dst'].map((name) => attach({ prefix: m.prefix, name })))
  const calls: Call[] = []
  const rest = new RxWaiter()
  const configs: PendingConfig[] = []
  let stopping = false
  const running = runNF(nf, createNF(nf, recorder(calls, [300]), { tag: 'a' }), {
    stopping: () => stopping,
    rest,
    maxRestMs: 60_000,
    nextConfig: () => configs.shift(),
  })
  const got = new Uint32Array(8)
  let received = 0
  const sendOne = async () => {
    const one = new Uint32Array(1)
    t.is(src.malloc(one), 1)
    src.setLength(one[0], 60)
    src.send(one[0], 0)
    t.is(src.tx(one), 1)
    const want = received + 1
    t.true(await until(() => {
      const n = dst.rx(got)
      if (n) dst.free(got, n)
      received += n
      return received === want
    }), 'the packet came through')
  }
  const idles = () => calls.filter((c) => c.what === 'idle')
  try {
    await sendOne()
    t.true(await until(() => idles().length === 2, 10_000), JSON.stringify(calls))
    const processed = calls.find((c) => c.what === 'process')!
    const [first, second] = idles()
    t.true(first.at - processed.at >= 1000, `idle() came ${first.at - processed.at} ms after the packet`)
    t.true(calls.some((c) => c.what === 'tick' && c.at > processed.at && c.at < first.at), 'ticks until then')
    t.true(second.at - first.at >= 300, `idle() asked for 300 ms and was called again after ${second.at - first.at}`)
    t.false(calls.some((c) => c.what === 'tick' && c.at > first.at), 'no tick while idle')

    // It asked for no call (Infinity): the loop rests, and this thread with it. Ticking every
    // 100 ms (rxWait's timeout) would be ten sleeps a second at least.
    const before = mainThreadSleeps()
    await new Promise((r) => setTimeout(r, 1000))
    const sleeps = mainThreadSleeps() - before
    t.true(sleeps < 5, `this thread woke ${sleeps} times in a second of the NF's rest`)

    // A config while it rests: taken at once, since the interrupt ends the rest.
    const taken = new Promise<unknown>((resolve) => configs.push({ config: { tag: 'b' }, done: resolve }))
    rest.interrupt()
    t.is(await taken, undefined)

    // The next packet: the NF's clock is brought up to date (a tick) before it sees it.
    const seen = calls.length
    await sendOne()
    t.deepEqual(calls.slice(seen, seen + 2).map((c) => c.what), ['tick', 'process'])
  } finally {
    // A stop while it rests again: the interrupt ends the rest, and the loop returns.
    t.true(await until(() => idles().length === 3, 10_000), 'idle again a second after the last packet')
    stopping = true
    rest.interrupt()
    await running
    for (const x of [src, nf, dst]) x.detach()
    m.close()
  }
})
