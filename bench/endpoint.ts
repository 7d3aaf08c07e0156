// Benchmark endpoint processes: `node --import tsx bench/endpoint.ts <mode> <prefix> <name> <json>`.
//   blast: malloc + tx bursts as fast as the chain takes them, for durationMs
//   drain: rx + free until SIGTERM
//   ping:  one packet of `size` bytes round-trips `rounds` times; prints RTT percentiles (µs)
//   pong:  sends every packet it receives back out of gate 0
//   pong-stamped: pong that writes, into the first 16 payload bytes, when rxWait gave it the
//          packet and when it sends it back (CLOCK_MONOTONIC ns, as ping reads it: bench/rtt-parts.ts)
//   turns: no endpoint: answers `rounds` turns of a polling ping-pong on a word of pool buffer 0
//          (Atomics, addon.schedYield between polls), what rxWait's spin does minus the rings
//   nf-pong-stamped: the same through the NF runner (runNF, attached as an NF process attaches,
//          default spin): a one-gate NF whose process() writes when it saw the packet
//   pass:  an NF process (runNF, default spin, resting when idle as a chain's) whose NF sends
//          every packet on through gate 0
//   group-pass: a placement group's process serving `name` and options.also (runNFs, run to
//          completion): each member a pass NF, each member's gate 0 a call to the next member, the
//          last one's through the manager
//   capture: a capture endpoint with options.taps; prints {"ready":true} once the manager
//          applies them, then takes and frees copies until SIGTERM (read: false: takes none)
// Each prints one JSON line when done.
import { attach, attachCapture, createNF, defineNF, runNF, runNFs, RxWaiter, setAffinity, type RunMember, type Tap } from '../src/xio/index.ts'
import { addon } from '../src/xio/native.ts'
import { RegionView } from '../src/xio/region-view.ts'
import { ping } from './pingpong.ts'

const [mode, prefix, name, json] = process.argv.slice(2)
const o = JSON.parse(json ?? '{}') as {
  cpu?: number
  size?: number
  durationMs?: number
  rounds?: number
  burst?: number
  taps?: Tap[]
  read?: boolean
  also?: string[]
}
if (o.cpu !== undefined) setAffinity([o.cpu])
if (mode === 'capture') await captureCopies()
if (mode === 'turns') await answerTurns()
// An NF process attaches with the default spin (src/chain/nf-process.ts); the bench's own ends spin 500 µs.
const nfMode = mode === 'nf-pong-stamped' || mode === 'pass' || mode === 'group-pass'
const xio = await attach({ prefix, name, spinUs: nfMode ? undefined : 500, also: o.also })
const burst = new Uint32Array(o.burst ?? 32)
let stopping = false
process.on('SIGTERM', () => (stopping = true))
// If the benchmark dies, leave with its manager instead of polling forever.
setInterval(() => {
  if (!xio.managerAlive()) process.exit(3)
}, 200).unref()
const print = (x: object) => process.stdout.write(JSON.stringify(x) + '\n')
const events = () => new Promise((r) => setImmediate(r))

/**
 * tx of burst[0, n) until all went, yielding the CPU while the ring is full (the consumer may
 * share it); leaves once the manager is gone, as the interval above would if it got a turn.
 */
function sendAll(n: number): void {
  let done = xio.tx(burst, n) // subarray only for a remainder: it allocates
  for (let tries = 1; done < n; tries++) {
    addon.schedYield()
    if ((tries & 1023) === 0 && !xio.managerAlive()) process.exit(3)
    done += xio.tx(burst.subarray(done), n - done)
  }
}

if (mode === 'blast') {
  const size = o.size ?? 64
  const end = performance.now() + (o.durationMs ?? 2000)
  let sent = 0
  for (let round = 0; !stopping; round++) {
    if ((round & 1023) === 0 && performance.now() > end) break
    const n = xio.malloc(burst)
    for (let i = 0; i < n; i++) xio.setLength(burst[i], size)
    sendAll(n)
    sent += n
  }
  print({ sent })
} else if (mode === 'drain') {
  let received = 0
  for (let round = 0; !stopping; round++) {
    const n = xio.rxWait(burst, 50)
    if (n) xio.free(burst, n)
    received += n
    if (n === 0 || (round & 4095) === 0) await events()
  }
  print({ received })
} else if (mode === 'ping') {
  print(ping(xio, o.size ?? 64, o.rounds ?? 20000))
} else if (mode === 'pong') {
  while (!stopping) {
    const n = xio.rxWait(burst, 50)
    sendAll(n)
    if (n === 0) await events()
  }
  print({ done: true })
} else if (mode === 'pong-stamped') {
  // A diagnostic: hrtime.bigint allocates, which the timestamps' own cost (measured apart) includes.
  while (!stopping) {
    const n = xio.rxWait(burst, 50)
    const seen = process.hrtime.bigint()
    for (let i = 0; i < n; i++) xio.view.setBigUint64(xio.offset(burst[i]), seen, true)
    for (let i = 0; i < n; i++) xio.view.setBigUint64(xio.offset(burst[i]) + 8, process.hrtime.bigint(), true)
    sendAll(n)
    if (n === 0) await events()
  }
  print({ done: true })
} else if (mode === 'nf-pong-stamped') {
  const stamp = defineNF<object>({
    gates: ['out'],
    create: () => ({
      process: (p) => {
        p.view.setBigUint64(p.at, process.hrtime.bigint(), true)
        return 0
      },
    }),
  })
  await runNF(xio, createNF(xio, stamp, {}), { stopping: () => stopping || !xio.managerAlive() })
  print({ done: true })
} else if (mode === 'pass' || mode === 'group-pass') {
  // Idle, it rests as a chain's NF process does (src/chain/nf-process.ts), off the event loop
  // until packets come; SIGTERM ends the rest.
  const rest = new RxWaiter()
  process.on('SIGTERM', () => rest.interrupt())
  const pass = defineNF<object>({ gates: ['out'], create: () => ({ process: () => 0 }) })
  const names = [name, ...(mode === 'group-pass' ? (o.also ?? []) : [])]
  const members: RunMember[] = names.map((member, i) => {
    const as = { id: xio.endpointId(member), name: member }
    return { nf: createNF(xio, pass, {}, 'wall', as), name: member, service: as.id, next: Int32Array.of(i + 1 < names.length ? i + 1 : -1) }
  })
  await runNFs(xio, members, { stopping: () => stopping, rest }) // a dead manager ends the process (the interval above)
  print({ done: true })
} else {
  throw new Error(`unknown mode ${mode}`)
}
xio.detach()

async function captureCopies(): Promise<never> {
  const capture = attachCapture(prefix, 500)
  let stopping = false
  process.on('SIGTERM', () => (stopping = true))
  if (!capture.setTaps(o.taps ?? [])) throw new Error('the manager did not apply the taps')
  process.stdout.write(JSON.stringify({ ready: true }) + '\n')
  const burst = new Uint32Array(64)
  let received = 0
  while (o.read === false && !stopping) await new Promise((r) => setTimeout(r, 20))
  for (let round = 0; !stopping; round++) {
    const n = capture.rxWait(burst, 50)
    if (n) capture.free(burst, n)
    received += n
    if (n === 0 || (round & 4095) === 0) await new Promise((r) => setImmediate(r))
  }
  capture.setTaps([])
  process.stdout.write(JSON.stringify({ received, ...capture.counters() }) + '\n')
  capture.detach()
  process.exit(0)
}

async function answerTurns(): Promise<never> {
  const region = addon.Region.attach(prefix, false)  // read-write: the pool's buffers are writable before any claim
  const view = new RegionView(prefix, region.buffer())
  const words = new Int32Array(region.buffer())
  const at = (view.bufferBase + view.dataOffset) >> 2
  process.stdout.write(JSON.stringify({ ready: true }) + '\n')
  for (let r = 0; r < (o.rounds ?? 0); r++) {
    while (Atomics.load(words, at) !== 1) addon.schedYield()
    Atomics.store(words, at, 0)
  }
  process.stdout.write(JSON.stringify({ done: true }) + '\n')
  process.exit(0)
}
