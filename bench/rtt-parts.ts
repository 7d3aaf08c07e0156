// Where the microseconds of a port ↔ NF round trip go (issue #11), measured before anything
// changes (`--only parts`, about 20 s; not in the default run: it is a diagnosis, not a figure
// to track). Three views:
//   1. the mechanisms alone, in C (bench/peers/wake-costs.c): sched_yield, a hand-over between
//      two processes polling with sched_yield, a futex wake-up hand-over, FUTEX_WAKE's cost to
//      the waker; across the two vCPUs and on one; and on one, that polling hand-over with each
//      side touching many pages, between processes and between threads of one process;
//   2. the JavaScript pieces alone, in this process: a setImmediate turn (the NF runner's yield),
//      a native call (schedYield, rx on an empty ring), the clock;
//   3. the round trip cut into legs by timestamps the pong end writes into the packet
//      (CLOCK_MONOTONIC, one clock for every process): ping's tx → pong has it, pong's turn,
//      pong's tx → ping has it; with the manager thread's passes and CPU per round trip from
//      its counters and /proc schedstat; for the bench's pong and for a real NF runner (runNF),
//      with the manager alone on its CPU and with the port beside it.
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { attach, Manager, setAffinity, type Xio } from '../src/xio/index.ts'
import { addon } from '../src/xio/native.ts'
import { endpoint, until, withPortAndNf, type Placement } from './dataplane.ts'
import { buildRelay, loadAverage, relayRoundTrip } from './floor.ts'
import { jsonMode, type Report } from './report.ts'
import { percentiles } from './stats.ts'

const wakeSource = fileURLToPath(new URL('./peers/wake-costs.c', import.meta.url))
const ROUNDS = 20000
const MANAGER_ALONE: Placement = { manager: 0, port: 1, nf: 1 }
const BESIDE_MANAGER: Placement = { manager: 0, port: 0, nf: 1 }

type Stat = { median: number; p99: number }

function mechanisms(report: Report) {
  const bin = join(tmpdir(), `xio-wake-costs-${process.pid}`)
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, wakeSource], { stdio: 'ignore' })
  } catch {
    if (!jsonMode()) console.log('  C mechanisms skipped: needs cc')
    return
  }
  try {
    for (const [label, a, b] of [['across vCPUs', 0, 1], ['on one vCPU', 1, 1]] as const) {
      const r = JSON.parse(execFileSync(bin, [String(a), String(b), String(ROUNDS)], { encoding: 'utf8', timeout: 60_000 })) as Record<string, Stat>
      if (label === 'across vCPUs') report.add('C: sched_yield(), nothing else to run, median', r.yield.median, 'µs')
      report.add(`C: hand-over polling with sched_yield, ${label}, median`, r.spinHandover.median, 'µs')
      report.add(`C: hand-over by futex wake-up, ${label}, median`, r.futexHandover.median, 'µs')
      report.add(`C: hand-over by futex wake-up, ${label}, p99`, r.futexHandover.p99, 'µs')
      report.add(`C: FUTEX_WAKE with a sleeper, cost to the waker, ${label}`, r.futexWakeCall.median, 'µs')
      if (label === 'on one vCPU') {
        // What a switch between address spaces costs a process that touches many pages each
        // time it runs, as a Node process does: the same hand-over between two threads of one
        // process keeps every translation.
        report.relative('C: hand-over polling, each side touching 128 pages, processes', r.pagesProcesses.median, 'µs', 'threads of one process', r.pagesThreads.median)
      }
    }
  } finally {
    rmSync(bin, { force: true })
  }
}

/** Median ns of one call of f, over batches (the loop's own cost included, a few ns). */
function nsPerCall(f: () => void, calls = 20000): number {
  const batches = new Float64Array(20)
  for (let b = 0; b < batches.length; b++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < calls / batches.length; i++) f()
    batches[b] = Number(process.hrtime.bigint() - t0) / (calls / batches.length)
  }
  return percentiles(batches).median
}

async function javascriptPieces(report: Report) {
  setAffinity([1])
  const turns = new Float64Array(5000)
  for (let i = 0; i < turns.length; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise((r) => setImmediate(r))
    turns[i] = Number(process.hrtime.bigint() - t0) / 1000
  }
  report.add('JS: one setImmediate turn (the NF runner\'s yield), median', percentiles(turns).median, 'µs')
  report.add('JS: addon.schedYield(), nothing else to run', nsPerCall(() => addon.schedYield()) / 1000, 'µs')
  report.add('JS: process.hrtime.bigint()', nsPerCall(() => process.hrtime.bigint()), 'ns')
  report.add('JS: performance.now()', nsPerCall(() => performance.now()), 'ns')
  // The native calls of the data path, on a region of this process's own.
  const prefix = `bench-parts-${process.pid}`
  rmSync(`/dev/shm/xio.${prefix}`, { force: true })
  const m = Manager.create({ prefix, buffers: 4096 })
  m.declare('a')
  m.start({ cpu: 0 })
  let xio: Xio | undefined
  try {
    xio = await attach({ prefix, name: 'a', spinUs: 500 })
    const burst = new Uint32Array(32)
    const x = xio
    report.add('JS: xio.rx() on an empty ring (one native call)', nsPerCall(() => x.rx(burst)), 'ns')
    report.add('JS: xio.rxWait(…, 0) on an empty ring', nsPerCall(() => x.rxWait(burst, 0)), 'ns')
    const one = new Uint32Array(1)
    x.malloc(one, 1)
    const at = x.offset(one[0])
    report.add('JS: writing a 64 B message in place (bytes.fill)', nsPerCall(() => x.bytes.fill(7, at, at + 64)), 'ns')
    report.add('JS: writing a 1500 B message in place (bytes.fill)', nsPerCall(() => x.bytes.fill(7, at, at + 1500)), 'ns')
    x.free(one, 1)
  } finally {
    xio?.detach()
    m.close()
  }
}

/**
 * The C hand-over by polling, between two Node processes: a word of pool buffer 0 of a region
 * (Atomics), each side calling addon.schedYield() between polls as rxWait's spin does. Beside
 * the C figure it says what Node's processes and the native call add to every hand-over.
 */
async function nodeHandover(report: Report) {
  const prefix = `bench-turns-${process.pid}`
  for (const [label, here, there] of [['across vCPUs', 0, 1], ['on one vCPU', 1, 1]] as const) {
    rmSync(`/dev/shm/xio.${prefix}`, { force: true })
    const m = Manager.create({ prefix, buffers: 4096 })
    m.start({ cpu: 0 })
    setAffinity([here])
    const words = new Int32Array(m.handle.buffer())
    const at = (m.region.bufferBase + m.region.dataOffset) >> 2
    const child = endpoint('turns', prefix, '', { cpu: there, rounds: ROUNDS + 1000 })
    try {
      await until(() => child.lines.length > 0)
      const half = new Float64Array(ROUNDS)
      for (let r = 0; r < ROUNDS + 1000; r++) {
        const t0 = process.hrtime.bigint()
        Atomics.store(words, at, 1)
        while (Atomics.load(words, at) !== 0) addon.schedYield()
        if (r >= 1000) half[r - 1000] = Number(process.hrtime.bigint() - t0) / 2000
      }
      report.add(`JS: hand-over polling with schedYield, ${label}, median`, percentiles(half).median, 'µs')
    } finally {
      child.process.kill('SIGKILL')
      await child.exited
      m.close()
    }
  }
}

/** CPU time of a thread of this process, ns (schedstat: exact, unlike stat's 10 ms ticks). */
function threadCpuNs(tid: number): number {
  return Number(readFileSync(`/proc/${process.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
}

interface Legs {
  total: Stat
  toPong: Stat
  pongTurn: Stat | null
  back: Stat
  managerLoops: number
  managerBusyLoops: number
  managerCpuUs: number
}

/** Ping with timestamps: the pong end wrote when it saw the packet (and, unless nf, when it sent it back). */
function stampedPing(xio: Xio, m: Manager, size: number, rounds: number, sentStamp: boolean): Legs {
  const one = new Uint32Array(1)
  if (xio.malloc(one, 1) !== 1) throw new Error('pool dry')
  const d = one[0]
  const at = xio.offset(d)
  const warmup = 1000
  const total = new Float64Array(rounds)
  const toPong = new Float64Array(rounds)
  const turn = new Float64Array(rounds)
  const back = new Float64Array(rounds)
  const tid = m.snapshot().manager.tid
  let before = m.snapshot().manager
  let cpu0 = threadCpuNs(tid)
  for (let r = 0; r < rounds + warmup; r++) {
    if (r === warmup) {
      before = m.snapshot().manager
      cpu0 = threadCpuNs(tid)
    }
    xio.bytes.fill(r & 0xff, at + 16, at + size)
    xio.setLength(d, size)
    const t0 = process.hrtime.bigint()
    xio.tx(one, 1)
    while (xio.rxWait(one, 1000) === 0) if (!xio.managerAlive()) throw new Error('manager gone')
    const t3 = process.hrtime.bigint()
    if (r < warmup) continue
    const seen = xio.view.getBigUint64(at, true)
    const sent = sentStamp ? xio.view.getBigUint64(at + 8, true) : seen
    const i = r - warmup
    total[i] = Number(t3 - t0) / 1000
    toPong[i] = Number(seen - t0) / 1000
    turn[i] = Number(sent - seen) / 1000
    back[i] = Number(t3 - sent) / 1000
  }
  const after = m.snapshot().manager
  const cpu = threadCpuNs(tid) - cpu0
  xio.free(one, 1)
  const stat = (a: Float64Array) => {
    const p = percentiles(a)
    return { median: p.median, p99: p.p99 }
  }
  return {
    total: stat(total),
    toPong: stat(toPong),
    pongTurn: sentStamp ? stat(turn) : null,
    back: stat(back),
    managerLoops: (after.loops - before.loops) / rounds,
    managerBusyLoops: (after.busyLoops - before.busyLoops) / rounds,
    managerCpuUs: cpu / rounds / 1000,
  }
}

async function legs(report: Report) {
  const relay = buildRelay()
  for (const [where, at] of [['manager alone', MANAGER_ALONE], ['port beside the manager', BESIDE_MANAGER]] as const) {
    if (relay) {
      // The floor's legs at the same placement: B stamps when it has the packet, as pong does.
      const c = relayRoundTrip(relay, 64, ROUNDS, at) as ReturnType<typeof relayRoundTrip> & { toB: number; back: number }
      report.add(`RTT 64 B, C relay, ${where}: whole, median`, c.median, 'µs')
      report.add('  A tx → B has it, median', c.toB, 'µs')
      report.add('  B has it → A has it (B reads 64 B, sends), median', c.back, 'µs')
    }
    for (const [who, mode] of [['bench pong', 'pong-stamped'], ['NF runner', 'nf-pong-stamped']] as const) {
      const l = await withPortAndNf(at, mode, (xio, m) => stampedPing(xio, m, 64, ROUNDS, mode === 'pong-stamped'))
      const tag = `64 B, ${who}, ${where}`
      report.add(`RTT ${tag}: whole, median`, l.total.median, 'µs')
      report.add(`  ping tx → pong has it (manager pass + hand-over), median`, l.toPong.median, 'µs')
      if (l.pongTurn) report.add('  pong\'s turn (rx → tx, JS), median', l.pongTurn.median, 'µs')
      report.add(`  ${l.pongTurn ? 'pong tx' : 'NF process() → runner tx'} → ping has it, median`, l.back.median, 'µs')
      report.add('  manager loop passes per round trip (busy ones)', l.managerLoops, `passes (${l.managerBusyLoops.toFixed(2)} busy)`)
      report.add('  manager thread CPU per round trip', l.managerCpuUs, 'µs')
      report.add('  manager thread CPU per loop pass', (l.managerCpuUs * 1000) / l.managerLoops, 'ns')
    }
  }
}

export async function run(report: Report): Promise<void> {
  report.section('Where a round trip\'s microseconds go')
  report.add('load average (1 min) before', loadAverage(), '')
  try {
    mechanisms(report)
    await javascriptPieces(report)
    await nodeHandover(report)
    await legs(report)
  } finally {
    setAffinity(cpus().map((_, i) => i))
  }
  report.add('load average (1 min) after', loadAverage(), '')
}
