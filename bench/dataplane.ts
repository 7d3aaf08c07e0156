// Data-plane benchmarks: throughput through the manager, round-trip latency against Node's
// own sockets (the X-IO paper's Fig. 7), and the CPU of a chain at rest.
//
// Placement follows what these 2-vCPU machines reward (DESIGN.md): the manager pinned alone
// on CPU 0, the endpoint processes on CPU 1, everyone yielding the core when idle.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { attach, Manager, setAffinity, type Xio } from '../src/xio/index.ts'
import { ping } from './pingpong.ts'
import { cpuSeconds } from './proc.ts'
import { jsonMode, type Report } from './report.ts'
import type { Percentiles } from './stats.ts'

const endpointScript = fileURLToPath(new URL('./endpoint.ts', import.meta.url))
const netScript = fileURLToPath(new URL('./peers/net-echo.ts', import.meta.url))
const uringSource = fileURLToPath(new URL('./peers/uring-pingpong.c', import.meta.url))
const MANAGER_CPU = 0
const NF_CPU = 1

/** A benchmark's helper process and the lines it printed so far. */
export interface Child {
  process: ChildProcess
  lines: string[]
  exited: Promise<unknown>
}

/** Starts `script` (through tsx) with args, collecting its stdout by line. */
export function start(script: string, args: string[]): Child {
  return startProgram(process.execPath, ['--import', 'tsx', script, ...args])
}

/** Starts a program (a benchmark's built peer) with args, collecting its stdout by line. */
export function startProgram(program: string, args: string[]): Child {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  let buf = ''
  child.stdout!.on('data', (c: Buffer) => {
    buf += c
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl))
      buf = buf.slice(nl + 1)
    }
  })
  return { process: child, lines, exited: once(child, 'exit') }
}

export const endpoint = (mode: string, prefix: string, name: string, options: object) =>
  start(endpointScript, [mode, prefix, name, JSON.stringify(options)])

async function lastLine<T>(c: Child): Promise<T> {
  await c.exited
  if (c.process.exitCode !== 0) throw new Error(`${c.process.spawnargs.join(' ')} exited with ${c.process.exitCode}`)
  return JSON.parse(c.lines[c.lines.length - 1]) as T
}

export async function until(ready: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!ready()) {
    if (Date.now() > deadline) throw new Error('benchmark setup timed out')
    await sleep(10)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function chain(tag: string, links: [string, string][]): Manager {
  const prefix = `bench-${tag}-${process.pid}`
  rmSync(`/dev/shm/xio.${prefix}`, { force: true })
  const m = Manager.create({ prefix, buffers: 16384, ringSize: 1024 })
  for (const [from, to] of links) {
    m.declare(from)
    m.declare(to)
  }
  for (const [from, to] of links) m.route(from, 0, to)
  m.start({ cpu: MANAGER_CPU })
  return m
}

const activeInstances = (m: Manager) => m.snapshot().slots.filter((s) => s.state === 'active').length

/**
 * Producer → manager → consumer at burst 32: Mpps delivered and CPU ns per packet of each stage.
 * The two ends are bench/endpoint.ts's blast and drain (JavaScript, as an NF's), or with
 * `nativeEnds` (the built bench/peers/native-flow.cc) the same two on native/endpoint.cc.
 */
export async function measureThroughput(nativeEnds?: string): Promise<{ mpps: number; ns: Record<'blast' | 'manager' | 'drain', number> }> {
  const m = chain('tput', [['blast', 'drain']])
  const end = (mode: 'blast' | 'drain', durationMs?: number) =>
    nativeEnds
      ? startProgram(nativeEnds, [mode, m.prefix, mode, String(NF_CPU), ...(durationMs ? [String(durationMs), '64'] : [])])
      : endpoint(mode, m.prefix, mode, { cpu: NF_CPU, durationMs })
  const drain = end('drain')
  await until(() => activeInstances(m) === 1)
  const blast = end('blast', 3500)
  await until(() => activeInstances(m) === 2)
  await sleep(500)
  const tid = m.snapshot().manager.tid
  const sample = () => ({
    t: performance.now(),
    delivered: m.snapshot().slots.find((s) => s.name === 'drain')!.route.rxPackets,
    manager: cpuSeconds(process.pid, tid),
    blast: cpuSeconds(blast.process.pid!),
    drain: cpuSeconds(drain.process.pid!),
  })
  const a = sample()
  await sleep(2500)
  const b = sample()
  await lastLine(blast)
  drain.process.kill('SIGTERM')
  await lastLine(drain)
  m.close()

  const packets = b.delivered - a.delivered
  const seconds = (b.t - a.t) / 1000
  const ns = (stage: 'blast' | 'manager' | 'drain') => ((b[stage] - a[stage]) * 1e9) / packets
  return { mpps: packets / seconds / 1e6, ns: { blast: ns('blast'), manager: ns('manager'), drain: ns('drain') } }
}

async function throughput(report: Report) {
  const { mpps, ns } = await measureThroughput()
  report.add('producer → manager → consumer, burst 32 (Mpps)', mpps, 'Mpps')
  for (const stage of ['blast', 'manager', 'drain'] as const) {
    const label = { blast: 'producer (malloc + tx)', manager: 'manager (route + recycle)', drain: 'consumer (rx + free)' }[stage]
    report.add(`CPU per packet: ${label}`, ns[stage], 'ns/packet')
  }
}

// The cost of a capture: the same blast → drain flow with no capture attached, with one whose
// tap sees nothing (on drain's output: it sends nothing), with one whose tap copies every
// packet (blast's gate 0) and whose reader takes and frees copies as fast as it can, on the
// endpoints' CPU, and with one that never reads (its ring full, each copy due is counted lost:
// the manager's side alone). Copies a reader cannot keep up with are lost, never the flow's
// packets. On two
// vCPUs the endpoint processes share one CPU, which bounds the flow before the manager does:
// the ratio says what a capture costs the chain here (the manager copies within its headroom).
export async function captureCost(report: Report) {
  type Run = { mpps: number; copiesPerSecond: number; copies: number; lost: number }
  const tapKinds = ['none', 'idle', 'every packet', 'stuck'] as const
  const runs: Record<string, Run[]> = { none: [], idle: [], 'every packet': [], stuck: [] }
  // Alternated rounds, the median of each kept: these machines' noise moves by tens of %.
  for (let round = 0; round < 3; round++) {
    for (const tap of tapKinds) runs[tap].push(await routingWithCapture(tap))
  }
  const median = (tap: string, k: keyof Run) => runs[tap].map((r) => r[k]).sort((a, b) => a - b)[1]
  report.add('manager routing, no capture (Mpps)', median('none', 'mpps'), 'Mpps')
  report.compare('manager routing, capture tap on an idle output (Mpps)', median('idle', 'mpps'), 'Mpps', 'no capture', median('none', 'mpps'), 'higher')
  report.compare('manager routing, capture tap on every packet (Mpps)', median('every packet', 'mpps'), 'Mpps', 'no capture', median('none', 'mpps'), 'higher')
  report.compare('manager routing, tap on every packet, reader stuck (Mpps)', median('stuck', 'mpps'), 'Mpps', 'no capture', median('none', 'mpps'), 'higher')
  const every = runs['every packet'].map((r) => (r.copies / (r.copies + r.lost || 1)) * 100).sort((a, b) => a - b)[1]
  report.add('  copies delivered to the capture (tap on every packet)', median('every packet', 'copiesPerSecond') / 1e6, 'M/s')
  report.add('  copies delivered, of those due (the rest counted lost)', every, '%')
}

async function routingWithCapture(tap: 'none' | 'idle' | 'every packet' | 'stuck') {
  const m = chain(`capture-${tap.replace(' ', '-')}`, [['blast', 'drain']])
  const drain = endpoint('drain', m.prefix, 'drain', { cpu: NF_CPU })
  await until(() => activeInstances(m) === 1)
  const ids = Object.fromEntries(m.snapshot().services.map((x) => [x.name, x.id]))
  const taps = tap === 'idle' ? [{ service: ids.drain, kind: 'tx' }] : [{ service: ids.blast, kind: 'gate', gate: 0 }]
  const capture = tap === 'none' ? null : endpoint('capture', m.prefix, '', { cpu: NF_CPU, taps, read: tap !== 'stuck' })
  if (capture) await until(() => capture.lines.length > 0)
  const blast = endpoint('blast', m.prefix, 'blast', { cpu: NF_CPU, durationMs: 2500 })
  await until(() => activeInstances(m) === (capture ? 3 : 2))
  await sleep(500)
  const sample = () => {
    const s = m.snapshot()
    return { t: performance.now(), routed: s.manager.routed, copies: s.manager.captured, lost: s.manager.captureLost }
  }
  const a = sample()
  await sleep(1500)
  const b = sample()
  await lastLine(blast)
  for (const c of [drain, capture]) c?.process.kill('SIGTERM')
  await Promise.all([drain, capture].map((c) => c && lastLine(c)))
  m.close()
  const seconds = (b.t - a.t) / 1000
  return { mpps: (b.routed - a.routed) / seconds / 1e6, copiesPerSecond: (b.copies - a.copies) / seconds, copies: b.copies - a.copies, lost: b.lost - a.lost }
}

// NF ↔ NF: both ends are NF processes, the manager a thread of this one (three processes).
export async function nfRoundTrip(size: number, rounds: number): Promise<Percentiles> {
  const m = chain(`rtt${size}`, [['ping', 'pong'], ['pong', 'ping']])
  const pong = endpoint('pong', m.prefix, 'pong', { cpu: NF_CPU })
  await until(() => activeInstances(m) === 1)
  const result = await lastLine<Percentiles>(endpoint('ping', m.prefix, 'ping', { cpu: NF_CPU, size, rounds }))
  pong.process.kill('SIGTERM')
  await lastLine(pong)
  m.close()
  return result
}

// Port ↔ NF: the ping end is a port in the chain's own process, beside the manager thread, as
// xio-chain's pcap and generator ports are; the pong end an NF process (two processes). The
// two CPU placements are both tried and the better kept, as for the Node peer.
async function portRoundTrip(size: number, rounds: number): Promise<Percentiles> {
  let best: Percentiles | undefined
  for (const [here, there] of [[MANAGER_CPU, NF_CPU], [NF_CPU, MANAGER_CPU]]) {
    const result = await portRoundTripAt(size, rounds, { manager: here, port: here, nf: there })
    if (!best || result.median < best.median) best = result
  }
  setAffinity([MANAGER_CPU])
  return best!
}

/** Where the actors of a round trip run: the manager thread, the port (this process's other threads), the NF process. */
export interface Placement {
  manager: number
  port: number
  nf: number
}

/** One port ↔ NF round trip run at one placement; leaves this process pinned to placement.port. */
export async function portRoundTripAt(size: number, rounds: number, at: Placement): Promise<Percentiles & { sleeps: { port: number; nf: number }; wakes: number }> {
  return withPortAndNf(at, 'pong', (xio, m) => {
    const before = m.snapshot()
    const result = ping(xio, size, rounds)
    const after = m.snapshot()
    // How each hand-over happened: a futex sleep on either end means a woken (slow) one.
    const slept = (name: string) => after.slots.find((x) => x.name === name)!.endpoint.sleeps - before.slots.find((x) => x.name === name)!.endpoint.sleeps
    return { ...result, sleeps: { port: slept('ping'), nf: slept('pong') }, wakes: after.manager.wakeups - before.manager.wakeups }
  })
}

/**
 * A port in this process and NF processes at one placement: a region with `links` routed (each
 * from gate 0), the manager thread, the processes `start` spawns (each attaches one slot), and
 * `ping` attached here (spin 500 µs); runs body with it, then takes everything down. Leaves this
 * process pinned to at.port.
 */
export async function withPort<T>(at: Placement, links: [string, string][], start: (prefix: string) => Child[], body: (xio: Xio, m: Manager) => T): Promise<T> {
  const prefix = `bench-port-rtt-${process.pid}`
  rmSync(`/dev/shm/xio.${prefix}`, { force: true })
  const m = Manager.create({ prefix, buffers: 4096 })
  for (const name of new Set(links.flat())) m.declare(name)
  for (const [from, to] of links) m.route(from, 0, to)
  // This process first (setAffinity pins every thread it has), then the manager thread, which
  // pins itself to its own CPU as it starts.
  setAffinity([at.port])
  m.start({ cpu: at.manager })
  const nfs = start(prefix)
  try {
    await until(() => activeInstances(m) === nfs.length)
    const xio = await attach({ prefix, name: 'ping', spinUs: 500 })
    try {
      return body(xio, m)
    } finally {
      xio.detach()
    }
  } finally {
    for (const nf of nfs) nf.process.kill('SIGTERM')
    await Promise.all(nfs.map((nf) => nf.exited))
    m.close()
  }
}

/** A port ↔ NF pair at one placement (withPort): ping ⇄ pong, pong an NF process of bench/endpoint.ts's `pongMode`. */
export function withPortAndNf<T>(at: Placement, pongMode: string, body: (xio: Xio, m: Manager) => T): Promise<T> {
  return withPort(at, [['ping', 'pong'], ['pong', 'ping']], (prefix) => [endpoint(pongMode, prefix, 'pong', { cpu: at.nf })], body)
}

// Node's `net` ping-pong, run unpinned and with both processes on one CPU; the better of the
// two is the peer, so the comparison is with Node at its best on this machine.
async function netRoundTrip(transport: 'uds' | 'tcp', size: number, rounds: number): Promise<Percentiles> {
  let best: Percentiles | undefined
  for (const cpu of [undefined, NF_CPU]) {
    const where = transport === 'uds' ? `/tmp/xio-bench-${process.pid}.sock` : String(20000 + (process.pid % 20000))
    if (transport === 'uds') rmSync(where, { force: true })
    const pin = cpu === undefined ? [] : [String(cpu)]
    const server = start(netScript, ['server', where, ...pin])
    await until(() => server.lines.includes('listening'))
    const result = await lastLine<Percentiles>(start(netScript, ['client', where, String(size), String(rounds), ...pin]))
    server.process.kill('SIGTERM')
    await server.exited
    if (!best || result.median < best.median) best = result
  }
  return best!
}

/**
 * The paper's peer (its Fig. 7): two C processes round-tripping over a Unix socket through
 * io_uring, plain and with SQPOLL (bench/peers/uring-pingpong.c). Built here; null when there is
 * no C compiler or liburing (Debian/Ubuntu: apt-get install liburing-dev).
 */
function uringPeer(): string | null {
  const peer = join(tmpdir(), `xio-uring-pingpong-${process.pid}`)
  try {
    execFileSync('cc', ['-O2', '-Wall', '-o', peer, uringSource, '-luring'], { stdio: 'ignore' })
    process.on('exit', () => rmSync(peer, { force: true }))
    return peer
  } catch {
    if (!jsonMode()) console.log('  io_uring peer skipped: needs cc and liburing (apt-get install liburing-dev)')
    return null
  }
}

/**
 * The better of the peer on this process's CPU and spread over every CPU, as for the Node
 * peers. A placement that does not finish within a minute is left out: SQPOLL's kernel thread
 * and two spinning processes on one vCPU can take a scheduler slice (ms) per round trip.
 */
function uringRoundTrip(peer: string, size: number, rounds: number, sqpoll: boolean): Pick<Percentiles, 'median' | 'p99'> | null {
  const run = (spread: boolean): Pick<Percentiles, 'median' | 'p99'> | null => {
    try {
      const args = [String(size), String(rounds), sqpoll ? '1' : '0', spread ? '1' : '0']
      return JSON.parse(execFileSync(peer, args, { encoding: 'utf8', timeout: 60_000 })) as Pick<Percentiles, 'median' | 'p99'>
    } catch {
      return null
    }
  }
  const runs = [run(false), run(true)].filter((r) => r !== null)
  return runs.length ? runs.reduce((a, b) => (b.median < a.median ? b : a)) : null
}

async function roundTrips(report: Report) {
  const uring = uringPeer()
  for (const size of [64, 512, 1500]) {
    const port = await portRoundTrip(size, 20000)
    const nf = await nfRoundTrip(size, 20000)
    const uds = await netRoundTrip('uds', size, 5000)
    const tcp = await netRoundTrip('tcp', size, 5000)
    const plain = uring && uringRoundTrip(uring, size, 20000, false)
    const sqpoll = uring && uringRoundTrip(uring, size, 20000, true)
    for (const [label, ours] of [['port ↔ NF', port], ['NF ↔ NF', nf]] as const) {
      report.compare(`round trip ${size} B ${label} via manager, median`, ours.median, 'µs', 'Node net UDS', uds.median, 'lower')
      report.compare(`round trip ${size} B ${label} via manager, p99`, ours.p99, 'µs', 'Node net UDS', uds.p99, 'lower')
      report.compare(`round trip ${size} B ${label} via manager, median`, ours.median, 'µs', 'Node net TCP loopback', tcp.median, 'lower')
      if (plain) report.compare(`round trip ${size} B ${label} via manager, median`, ours.median, 'µs', 'C over UDS with io_uring', plain.median, 'lower')
      if (sqpoll) report.compare(`round trip ${size} B ${label} via manager, median`, ours.median, 'µs', 'C over UDS with io_uring SQPOLL', sqpoll.median, 'lower')
    }
  }
}

/** A chain with nothing to carry: the manager thread and two NF processes, each run as a chain runs its NFs (runNFs, resting when idle). */
async function idleCpu(report: Report) {
  const m = chain('idle', [['a', 'b'], ['b', 'a']])
  const procs = [endpoint('pass', m.prefix, 'a', {}), endpoint('pass', m.prefix, 'b', {})]
  await until(() => activeInstances(m) === 2)
  await sleep(500)
  const tid = m.snapshot().manager.tid
  const total = () => cpuSeconds(process.pid, tid) + procs.reduce((s, p) => s + cpuSeconds(p.process.pid!), 0)
  const before = total()
  await sleep(3000)
  const used = total() - before
  for (const p of procs) p.process.kill('SIGTERM')
  await Promise.all(procs.map((p) => p.exited))
  m.close()
  report.add('idle chain (manager + 2 NF processes) CPU', (used / 3) * 100, '% of one core')
}

export async function run(report: Report): Promise<void> {
  report.section('Data plane')
  setAffinity([MANAGER_CPU])  // the bench process hosts the manager thread: keep it off the NFs' CPU
  await throughput(report)
  await captureCost(report)
  await roundTrips(report)
  await idleCpu(report)
  setAffinity([MANAGER_CPU, NF_CPU])
}
