// The design's floor (issue #11): xio-chain's round trips and manager throughput beside a C++
// relay built on native/ring.h with the same topology (bench/peers/ring-relay.cc: endpoint
// processes A and B, a manager thread in a third; spin-then-futex waits, batched wakes), in
// the same run, as xio / floor. The target: port ↔ NF within 1.2x of the relay, flat
// across 64, 512 and 1500 B.
//
// Placement decides these figures on two vCPUs, so each side gets the best of the same
// placements: the manager alone on CPU 0 with both endpoints on CPU 1 (the design's), and
// the ping end beside the manager (where a port sits in xio-chain today); at 64 B both are
// printed side by side. Every figure is the median of five rounds (ROUNDS_OF), and a verdict the
// median of the rounds' own ratios.
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setAffinity } from '../src/xio/index.ts'
import { endpoint, measureThroughput, nfRoundTrip, portRoundTripAt, withPort, type Placement } from './dataplane.ts'
import { ping } from './pingpong.ts'
import { jsonMode, medianOf, type Report } from './report.ts'
import type { Percentiles } from './stats.ts'

const relaySource = fileURLToPath(new URL('./peers/ring-relay.cc', import.meta.url))
const nativeFlowSource = fileURLToPath(new URL('./peers/native-flow.cc', import.meta.url))
const nativeDir = fileURLToPath(new URL('../native/', import.meta.url))
const SIZES = [64, 512, 1500]
const ROUNDS = 20000
// The two placements both sides are measured at (CPU numbers; the endpoints of the relay are
// A = the ping end, the port's place, and B = the pong end, the NF's).
const MANAGER_ALONE: Placement = { manager: 0, port: 1, nf: 1 }
const BESIDE_MANAGER: Placement = { manager: 0, port: 0, nf: 1 }
const PLACEMENTS = [MANAGER_ALONE, BESIDE_MANAGER]

export const loadAverage = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])

/**
 * Builds a C++ peer from source with the system compiler (C++17, against native/ and the native
 * sources it names); null, said once, when there is no C++ compiler (Debian: g++).
 */
function buildPeer(label: string, file: string, source: string, nativeSources: string[]): string | null {
  const bin = join(tmpdir(), `xio-${file}-${process.pid}`)
  try {
    const sources = [source, ...nativeSources.map((f) => join(nativeDir, f))]
    execFileSync('c++', ['-O2', '-std=c++17', '-Wall', '-pthread', `-I${nativeDir}`, '-o', bin, ...sources], { stdio: ['ignore', 'ignore', 'pipe'] })
    process.on('exit', () => rmSync(bin, { force: true }))
    return bin
  } catch (e) {
    const error = e as NodeJS.ErrnoException & { stderr?: Buffer }
    const why = error.code === 'ENOENT'
      ? 'no C++ compiler (apt-get install g++)'
      : `it did not compile: ${String(error.stderr ?? e).split('\n').find((l) => l.includes('error')) ?? String(error.stderr ?? e).split('\n')[0]}`
    if (!jsonMode()) console.log(`  ${label} skipped: ${why}`)
    return null
  }
}

/** The relay: native/ring.h and native/os.cc for the futex calls. */
export const buildRelay = () => buildPeer('C relay', 'ring-relay', relaySource, ['os.cc'])

/** The throughput benchmark's ends on the project's native endpoint (bench/peers/native-flow.cc). */
const buildNativeFlow = () => buildPeer('native-endpoint ends', 'native-flow', nativeFlowSource, ['endpoint.cc', 'region.cc', 'os.cc'])

type RelayRtt = Percentiles & { sleeps: [number, number]; managerWakes: number }

export function relayRoundTrip(bin: string, size: number, rounds: number, at: Placement): RelayRtt {
  const out = execFileSync(bin, ['rtt', String(size), String(rounds), String(at.manager), String(at.port), String(at.nf)], { encoding: 'utf8', timeout: 60_000 })
  return { ...(JSON.parse(out) as RelayRtt), count: rounds }
}

export function relayThroughput(bin: string, ms: number, at: Placement): number {
  const out = execFileSync(bin, ['tput', String(ms), String(at.manager), String(at.port), String(at.nf)], { encoding: 'utf8', timeout: 60_000 })
  return (JSON.parse(out) as { mdps: number }).mdps
}

/** How a round trip from the port crosses NFs: one NF; two, each its own process; two in one placement group. */
type Hops = 'one NF' | 'two NFs' | 'a group of two'

/**
 * Port → NFs → port at the design's placement (manager alone on CPU 0, the port and the NF
 * processes on CPU 1), every NF passing each packet on by gate 0 through the NF runner.
 */
async function portThrough(hops: Hops, size: number, rounds: number): Promise<Percentiles> {
  const at = MANAGER_ALONE
  const path = hops === 'one NF' ? ['ping', 'a', 'ping'] : ['ping', 'a', 'b', 'ping']
  const links = path.slice(1).map((to, i): [string, string] => [path[i], to])
  const start = (prefix: string) =>
    hops === 'a group of two'
      ? [endpoint('group-pass', prefix, 'a', { cpu: at.nf, also: ['b'] })]
      : path.slice(1, -1).map((name) => endpoint('pass', prefix, name, { cpu: at.nf }))
  return withPort(at, links, start, (xio) => ping(xio, size, rounds))
}

function best<T extends { median: number }>(runs: T[]): T {
  return runs.reduce((a, b) => (b.median < a.median ? b : a))
}

// Each figure is the median of this many rounds, xio-chain and the relay alternating within a
// round: on these shared machines one noisy second can move a single run by 2x. A verdict is
// the median of the rounds' own ratios (Report.relative).
const ROUNDS_OF = 5

export async function run(report: Report): Promise<void> {
  report.section('The design\'s floor: a C relay on native/ring.h, same topology')
  const relay = buildRelay()
  if (!relay) return
  report.add('load average (1 min) before', loadAverage(), '')
  try {
    for (const size of SIZES) {
      const rounds: { floorAt: RelayRtt[]; portAt: Awaited<ReturnType<typeof portRoundTripAt>>[]; nf: Percentiles }[] = []
      for (let r = 0; r < ROUNDS_OF; r++) {
        const floorAt = PLACEMENTS.map((at) => relayRoundTrip(relay, size, ROUNDS, at))
        const portAt = []
        for (const at of PLACEMENTS) portAt.push(await portRoundTripAt(size, ROUNDS, at))
        // NF ↔ NF has no port: both NFs on CPU 1, the manager alone (the launcher's placement).
        rounds.push({ floorAt, portAt, nf: await nfRoundTrip(size, ROUNDS) })
      }
      const of = (pick: (r: (typeof rounds)[number]) => number) => medianOf(rounds.map(pick))
      const floor = { median: of((r) => best(r.floorAt).median), p99: of((r) => best(r.floorAt).p99) }
      const port = { median: of((r) => best(r.portAt).median), p99: of((r) => best(r.portAt).p99) }
      const nf = { median: of((r) => r.nf.median), p99: of((r) => r.nf.p99) }
      const perRound = (pick: (r: (typeof rounds)[number]) => number) => rounds.map((r) => pick(r) / best(r.floorAt).median)
      report.relative(`round trip ${size} B port ↔ NF, median`, port.median, 'µs', 'C relay', floor.median, { target: 1.2, rounds: perRound((r) => best(r.portAt).median) })
      report.relative(`round trip ${size} B port ↔ NF, p99`, port.p99, 'µs', 'C relay', floor.p99)
      report.relative(`round trip ${size} B NF ↔ NF, median`, nf.median, 'µs', 'C relay', floor.median, { rounds: perRound((r) => r.nf.median) })
      report.relative(`round trip ${size} B NF ↔ NF, p99`, nf.p99, 'µs', 'C relay', floor.p99)
      if (size === SIZES[0]) {
        // The same placements side by side: what placement alone is worth on each.
        report.relative('  port ↔ NF, manager alone on CPU 0, median', of((r) => r.portAt[0].median), 'µs', 'C relay placed so', of((r) => r.floorAt[0].median))
        report.relative('  port ↔ NF, port beside the manager, median', of((r) => r.portAt[1].median), 'µs', 'C relay placed so', of((r) => r.floorAt[1].median))
        report.add(`  port ↔ NF, manager alone: futex sleeps, port + NF, of ${ROUNDS}`, of((r) => r.portAt[0].sleeps.port + r.portAt[0].sleeps.nf), 'sleeps')
        report.add(`  C relay, manager alone: futex sleeps, A + B, of ${ROUNDS}`, of((r) => r.floorAt[0].sleeps[0] + r.floorAt[0].sleeps[1]), 'sleeps')
      }
    }
    // What a placement group saves: a packet through two NFs in one group should cost what one
    // NF costs (one hop), where two NF processes cost a hop each.
    const hops: Record<Hops, number[]> = { 'one NF': [], 'two NFs': [], 'a group of two': [] }
    for (let r = 0; r < ROUNDS_OF; r++) for (const h of Object.keys(hops) as Hops[]) hops[h].push((await portThrough(h, SIZES[0], ROUNDS)).median)
    const one = medianOf(hops['one NF'])
    const overOne = (h: Hops) => hops[h].map((x, r) => x / hops['one NF'][r])
    report.relative(`round trip ${SIZES[0]} B port ↔ a group of two NFs, median`, medianOf(hops['a group of two']), 'µs', 'port ↔ one NF', one, { rounds: overOne('a group of two') })
    report.relative(`round trip ${SIZES[0]} B port ↔ two NF processes in a row, median`, medianOf(hops['two NFs']), 'µs', 'port ↔ one NF', one, { rounds: overOne('two NFs') })
    // Throughput at the placement the data-plane bench uses: manager alone, both ends on CPU 1.
    // The same flow with both ends on native/endpoint.cc tells the manager's share from the
    // JavaScript ends': the same manager and protocol, the same work per packet, in C++.
    const nativeEnds = buildNativeFlow()
    const floorMdps: number[] = [], xioMpps: number[] = [], nativeMpps: number[] = []
    // CPU per packet of producer and consumer together (both on CPU 1), by round.
    const xioEndsNs: number[] = [], nativeEndsNs: number[] = [], xioAllNs: number[] = []
    for (let r = 0; r < ROUNDS_OF; r++) {
      floorMdps.push(relayThroughput(relay, 2500, MANAGER_ALONE))
      setAffinity([MANAGER_ALONE.manager])  // as the data-plane suite: this process beside the manager thread
      const xio = await measureThroughput()
      xioMpps.push(xio.mpps)
      xioEndsNs.push(xio.ns.blast + xio.ns.drain)
      xioAllNs.push(xio.ns.blast + xio.ns.manager + xio.ns.drain)
      if (!nativeEnds) continue
      const native = await measureThroughput(nativeEnds)
      nativeMpps.push(native.mpps)
      nativeEndsNs.push(native.ns.blast + native.ns.drain)
    }
    report.relative('producer → manager → consumer, burst 32 (target >= 30)', medianOf(xioMpps), 'M/s', 'C relay', medianOf(floorMdps), { rounds: xioMpps.map((x, r) => x / floorMdps[r]) })
    // The target as a budget: what the three may spend on a packet, in all, for this machine's
    // CPUs to carry 30 M/s, beside what they spend (their CPU over the packets they moved).
    const cpusHere = cpus().length
    report.compare(`  CPU a packet may cost in all at 30 M/s on ${cpusHere} CPUs`, (cpusHere * 1e3) / 30, 'ns', 'producer + manager + consumer', medianOf(xioAllNs), 'higher')
    if (nativeEnds) {
      const ofRelay = nativeMpps.map((x, r) => x / floorMdps[r])
      report.relative('  the same, both ends on native/endpoint.cc (C++)', medianOf(nativeMpps), 'M/s', 'C relay', medianOf(floorMdps), { rounds: ofRelay })
      report.relative('  JavaScript ends against native ends', medianOf(xioMpps), 'M/s', 'native ends', medianOf(nativeMpps), { rounds: xioMpps.map((x, r) => x / nativeMpps[r]) })
      report.relative('  CPU per packet, producer + consumer, JavaScript', medianOf(xioEndsNs), 'ns', 'native', medianOf(nativeEndsNs), { rounds: xioEndsNs.map((x, r) => x / nativeEndsNs[r]) })
    }
  } finally {
    setAffinity(cpus().map((_, i) => i))
  }
  report.add('load average (1 min) after', loadAverage(), '')
}
