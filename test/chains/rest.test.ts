// A chain at rest: the launcher's pump sleeps until packets reach one of its ports or a port
// is due (RxWaiter, Port.nextPumpMs), rather than looking every 16 ms; an NF process sleeps
// once its NF has had no packet for a second (idle()), rather than ticking every 100 ms.
import test, { type ExecutionContext } from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RunningChain } from '../../src/chain/launcher.ts'
import { checkChain } from '../../src/chain/spec.ts'
import { attach, observe, type Observer } from '../../src/xio/index.ts'
import { startXioChain } from '../helpers/cli.ts'
import { uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

/** Times a thread has gone to sleep of its own accord so far (each is a wake-up after it). */
function voluntarySwitches(pid: number, tid = pid): number {
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1])
}

/** The pid of the launcher's NF process for `name`. */
function nfProcess(launcher: number, name: string): number {
  const children = readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).map(Number)
  const pid = children.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(name))
  if (pid === undefined) throw new Error(`no NF process for ${name} under ${launcher}`)
  return pid
}

// An application (a service) → a firewall → the launcher's sink port.
const TO_SINK = {
  endpoints: {
    app: { kind: 'service' },
    fw: { kind: 'firewall', config: { default: 'allow', rules: [] } },
    wan: { kind: 'sink' },
  },
  links: ['app -> fw', 'fw -> wan'],
}

const sinkSlot = (o: Observer) => o.view.snapshot().slots.find((s) => s.state === 'active' && s.name === 'wan')!

/** Sends 10 packets in as the chain's `app`, and checks the sink has taken every one off its ring. */
async function sendToSink(t: ExecutionContext, prefix: string, o: Observer) {
  const app = await attach({ prefix, name: 'app' })
  const burst = new Uint32Array(10)
  t.is(app.malloc(burst), 10)
  for (const d of burst) app.setLength(d, 60)
  t.is(app.tx(burst), 10)
  t.true(await until(() => sinkSlot(o).route.rxPackets === 10 && sinkSlot(o).rings.rx.used === 0), `the sink took them: ${JSON.stringify(sinkSlot(o).rings.rx)}`)
  app.detach()
}

test.serial('at rest the launcher and an NF wake a few times a second, and a packet reaching its sink after a rest is taken', async (t) => {
  const dir = scratchDir('rest')
  const spec = join(dir, 'rest.json')
  writeFileSync(spec, JSON.stringify({ name: 'rest', ...TO_SINK }))
  const prefix = uniquePrefix('rest')
  const cli = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  let o: Observer | undefined
  try {
    t.true(await until(() => {
      try {
        o ??= observe(prefix)
        return o.view.snapshot().slots.some((s) => s.state === 'active' && s.name === 'fw')
      } catch {
        return false
      }
    }, 20_000, 50), cli.output())
    // The launcher's own thread (its pid): the one that pumps the ports, and prints a stats line a second.
    const before = voluntarySwitches(cli.pid!)
    await new Promise((r) => setTimeout(r, 2000))
    const wakes = voluntarySwitches(cli.pid!) - before
    // Looking every 16 ms, as it did, is 125 in 2 s.
    t.true(wakes < 40, `the launcher woke ${wakes} times in 2 s at rest`)
    // The firewall has had no packet for more than a second now: it rests too (idle()), where
    // ticking every 100 ms would be 20 wake-ups in 2 s.
    const fw = nfProcess(cli.pid!, 'fw')
    const fwBefore = voluntarySwitches(fw)
    await new Promise((r) => setTimeout(r, 2000))
    const fwWakes = voluntarySwitches(fw) - fwBefore
    t.true(fwWakes < 10, `the firewall woke ${fwWakes} times in 2 s at rest`)

    await sendToSink(t, prefix, o!)
  } finally {
    o?.close()
    cli.kill('SIGTERM')
    await new Promise((r) => cli.once('exit', r))
  }
})

// In this process, with rests of a minute: nothing below may lean on a rest ending by itself.
const LONG_REST = { maxRestMs: 60_000 }

test.serial('resting for a minute at most, the pump still takes what reaches its sink at once, and stop() ends the rest', async (t) => {
  const dir = scratchDir('rest-long')
  const chain = checkChain(join(dir, 'rest.json'), { name: 'rest-long', ...TO_SINK })
  const prefix = uniquePrefix('rest-long')
  const running = await RunningChain.start(chain, { prefix, ...LONG_REST })
  const o = observe(prefix)
  try {
    void running.pump()
    t.true(await until(() => sinkSlot(o).asleep > 0), 'the pump rests on the sink\'s ring')
    await sendToSink(t, prefix, o)
    t.true(await until(() => sinkSlot(o).asleep > 0), 'and rests again')
  } finally {
    o.close()
    await running.stop() // a rest that stop() could not end would hold it a minute: the test's timeout
  }
})

test.serial('a chain with no port rests until stop(), and a reload that adds ports has them pumped at once', async (t) => {
  const dir = scratchDir('rest-noports')
  const spec = (endpoints: object, links: string[]) => checkChain(join(dir, 'rest.json'), { name: 'rest-noports', endpoints, links })
  const base = { app: { kind: 'service' }, fw: { kind: 'firewall', config: { default: 'allow', rules: [] } }, out: { kind: 'service' } }
  const prefix = uniquePrefix('rest-noports')
  const running = await RunningChain.start(spec(base, ['app -> fw', 'fw -> out']), { prefix, ...LONG_REST })
  const out = await attach({ prefix, name: 'out' })
  try {
    void running.pump() // no port: it rests at once, on nothing but stop() and new ports
    await running.reload(spec({ ...base, gen: { kind: 'generator', count: 5 } }, ['app -> fw', 'gen -> fw', 'fw -> out']))
    const got = new Uint32Array(8)
    let received = 0
    t.true(await until(() => {
      const n = out.rx(got)
      if (n) out.free(got, n)
      received += n
      return received === 5
    }), `the new generator's packets came through: ${received} of 5`)
  } finally {
    out.detach()
    await running.stop()
  }
})
