// The chain benchmark (issue #11, `--only chain`): a firewall with 100 rules and a NAT between a
// generator and a sink at full rate (64-byte frames over 1,024 flows), run as a real chain:
// `xio-chain run --no-tui` on a generated spec, under a prefix of its own, read through the
// region. Reported: Mpps at the sink, and the CPU all of the chain's processes spent per packet
// (utime + stime of the launcher, whose threads include the manager and the ports, and of
// every NF process, over the measured window) beside the floor: what the two NFs cost per
// packet on their own (bench/nfs.ts's machinery, in this process, on the same frames).
//
// Each placement is one Variant: isolated (each NF its own process, OpenNetVM's way), grouped
// (fw and nat in one placement group: one process, run to completion, no hop between them; its
// process shows under fw, the group's first member), and as a diagnosis each of the two with
// every process on one CPU: what it saves per packet is what crossing between CPUs costs, and
// the machine's CPU count over it is the most any placement of that chain could carry here;
// the grouped one with two forwarders (the platform's share), and those beside a busy loop on
// the manager's CPU (what another task there costs the chain).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { observe, type Observer, type RegionSnapshot } from '../src/xio/index.ts'
import firewall from '../src/nfs/firewall/index.ts'
import nat from '../src/nfs/nat/index.ts'
import { buildIpv4Frame, IPPROTO_UDP } from '../src/packet/index.ts'
import { onlineCpus } from '../src/chain/cpus.ts'
import { loadAverage } from './floor.ts'
import { env, measure, packetOver, rules, SLOT, type Traffic } from './nfs.ts'
import type { Report } from './report.ts'
import { cpuSeconds, switches } from './proc.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const FRAME = 64
const FLOWS = 1024
const RULES = 100
const WARMUP_MS = 2000
const WINDOW_MS = 6000
const ROUNDS = 3
const IDLE_WINDOW_MS = 5000
// A bound on the whole chain's life, should this process die without stopping it.
const DURATION_S = 30
// Generator and sink are named lan and wan: the firewall's rules may say `in: "lan"`, and the
// micro-benchmark's environment (bench/nfs.ts) calls them so too. A spec given to withChain
// names its sink so: it runs once packets reach it.
export const SOURCE = 'lan'
export const SINK = 'wan'
// The generator's own defaults (src/chain/ports/generator.ts), written out: the floor's frames
// are built from them.
const SRC_NET = 0x0a000000  // 10.0.0.0/16
const DST_NET = 0xc6336400  // 198.51.100.0/24
const DST_PORT = 80

/** The firewall: 99 rules of the micro-benchmark's mix, none of which these frames meet, then the one that lets them through. */
function firewallConfig() {
  return {
    default: 'drop',
    rules: [...rules(RULES - 1, RULES), { action: 'allow', proto: 'udp', src: '10.0.0.0/16', comment: 'the generator\'s flows' }],
  }
}

const natConfig = { external: '203.0.113.1', inside: '10.0.0.0/16' }

interface Variant {
  name: string
  /** The NF endpoints' specs, by name; ports and links are the same for every variant. */
  nfs: Record<string, object>
  /** Mpps it should reach (issue #11); none for a diagnosis. */
  target?: number
  /** The manager's CPU, if not the default (0). */
  managerCpu?: number
  /** Links from SOURCE to SINK through nfs, if not fw's and nat's. */
  links?: string[]
  /** A CPU to run a busy loop on meanwhile (a stranger's task that never sleeps). */
  busyCpu?: number
}

/** fw and nat, each in its own process or (`group`) both in one placement group's, on `cpu` if given. */
const fwNat = (group?: string, cpu?: number[]) => {
  const placement = { ...(group ? { group } : {}), ...(cpu ? { cpu } : {}) }
  return { fw: { kind: 'firewall', config: firewallConfig(), ...placement }, nat: { kind: 'nat', config: natConfig, ...placement } }
}
const isolated = (cpu?: number[]) => fwNat(undefined, cpu)
const grouped = (cpu?: number[]) => fwNat('edge', cpu)

// A diagnosis beside each placement: the same chain with every process on CPU 0, so no
// packet's lines move between CPUs and no process waits on another CPU. Its CPU per packet is
// then the chain's work per packet on this machine, and beside the two-CPU figure it says what
// that movement costs; the machine's CPUs could carry at most their count over it.
const ONE_CPU = ', one CPU'
// And a diagnosis beside the grouped placement: the same group with two forwarders (l2fwd,
// which swap two addresses) in place of fw and NAT. What the chain carries then is what the
// platform carries, its runtime, rings, manager and ports, with NFs that do next to nothing;
// what fw and NAT take off it is their own code's, on packets that come from another CPU.
const FORWARDERS = 'grouped, two forwarders'
// And the forwarders again beside a busy loop on CPU 0, where the manager and the launcher's
// ports run: what a machine's other work on that CPU costs the chain. (A yield there waits out
// the loop's slice, milliseconds; the manager's thread sleeps instead once it sees that.)
const BESIDE_BUSY = `${FORWARDERS}, a busy loop on CPU 0`
const forwardersSpec = {
  nfs: { fwd1: { kind: 'l2fwd', group: 'edge' }, fwd2: { kind: 'l2fwd', group: 'edge' } },
  links: [`${SOURCE} -> fwd1`, 'fwd1 -> fwd2', `fwd2 -> ${SINK}`],
}
const VARIANTS: Variant[] = [
  { name: 'isolated', target: 5, nfs: isolated() },
  { name: 'grouped', target: 8, nfs: grouped() },
  { name: `isolated${ONE_CPU}`, nfs: isolated([0]), managerCpu: 0 },
  { name: `grouped${ONE_CPU}`, nfs: grouped([0]), managerCpu: 0 },
  { name: FORWARDERS, ...forwardersSpec },
  { name: BESIDE_BUSY, ...forwardersSpec, busyCpu: 0 },
]

/** The spec of one variant; a generator count stops its traffic there (the chain at rest). */
function specOf(v: Variant, count?: number) {
  return {
    name: `bench-chain-${v.name.replace(/\W+/g, '-')}`,
    ...(v.managerCpu !== undefined ? { manager: { cpu: v.managerCpu } } : {}),
    endpoints: {
      [SOURCE]: { kind: 'generator', size: FRAME, flows: FLOWS, proto: 'udp', dstPort: DST_PORT, count },
      ...v.nfs,
      [SINK]: { kind: 'sink' },
    },
    links: v.links ?? [`${SOURCE} -> fw`, 'fw -> nat', `nat.outside -> ${SINK}`, `nat.inside -> ${SOURCE}`],
  }
}

interface Sample {
  t: number
  received: number
  cpu: Record<string, number>
  /** Context switches of the thread that does the work: the launcher's JS thread, the manager's, each NF process's. */
  switches: Record<string, number>
  /** Why a chain runs below its CPU: the manager's sleeps and descriptors it held for a full RX ring, the NFs' sends refused by a full TX ring. */
  managerSleeps: number
  managerWakeups: number
  managerHeld: number
  /** By NF endpoint: sends its TX ring refused (full: the manager is holding what it sent before for a full RX ring downstream). */
  refused: Record<string, number>
}

function sample(o: Observer, launcher: number): Sample {
  const s: RegionSnapshot = o.view.snapshot()
  const active = s.slots.filter((x) => x.state === 'active')
  // The launcher whole (every thread), and its manager thread alone: the rest is its ports.
  const cpu: Record<string, number> = { launcher: cpuSeconds(launcher), manager: cpuSeconds(launcher, s.manager.tid) }
  const switched: Record<string, number> = { launcher: switches(launcher), manager: switches(launcher, s.manager.tid) }
  const refused: Record<string, number> = {}
  // NF processes by endpoint name (each instance's process summed); ports live in the launcher.
  for (const x of active) {
    if (x.name === SOURCE || x.name === SINK) continue
    cpu[x.name] = (cpu[x.name] ?? 0) + cpuSeconds(x.pid)
    switched[x.name] = (switched[x.name] ?? 0) + switches(x.pid)
    refused[x.name] = (refused[x.name] ?? 0) + x.rings.tx.refused
  }
  return { t: performance.now(), received: active.find((x) => x.name === SINK)?.route.rxPackets ?? 0, cpu, switches: switched, managerSleeps: s.manager.sleeps, managerWakeups: s.manager.wakeups, managerHeld: s.manager.held, refused }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function attachObserver(prefix: string, chain: ChildProcess): Promise<Observer> {
  for (let i = 0; i < 300; i++) {
    if (chain.exitCode !== null) throw new Error(`the chain exited with status ${chain.exitCode} before it ran`)
    try {
      const o = observe(prefix)
      // Running once every NF has a slot and packets reach the sink.
      const s = o.view.snapshot()
      if ((s.slots.find((x) => x.name === SINK && x.state === 'active')?.route.rxPackets ?? 0) > 0) return o
      o.close()
    } catch {
      // not created yet
    }
    await sleep(100)
  }
  throw new Error('the chain did not start carrying packets within 30 s')
}

interface ChainRun {
  mpps: number
  nsPerPacket: number
  perProcess: Record<string, number>
  /** Context switches per 1,000 packets, by the same names as perProcess. */
  switchesPerKPacket: Record<string, number>
  managerSleepsPerSecond: number
  /** Sleeps no endpoint's wake ended: they ran to their timeout (1 ms while holding descriptors). */
  managerTimeoutsPerSecond: number
  heldPerPacket: number
  refusedPerPacket: Record<string, number>
}

/** Runs one variant for WARMUP_MS + WINDOW_MS (beside its busy loop, if it has one). */
async function runChain(v: Variant): Promise<ChainRun> {
  if (v.busyCpu === undefined) return measureChain(v)
  const busy = spawn('taskset', ['-c', String(v.busyCpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' })
  try {
    await once(busy, 'spawn')
    return await measureChain(v)
  } finally {
    busy.kill('SIGKILL')
  }
}

function measureChain(v: Variant): Promise<ChainRun> {
  return withChain(specOf(v), async (o, launcher, exited) => {
    await sleep(WARMUP_MS)
    const a = sample(o, launcher)
    await sleep(WINDOW_MS)
    const b = sample(o, launcher)
    if (exited()) throw new Error('the chain exited during the measurement')
    const packets = b.received - a.received
    const perProcess: Record<string, number> = {}
    for (const name of Object.keys(b.cpu)) perProcess[name] = ((b.cpu[name] - (a.cpu[name] ?? 0)) * 1e9) / packets
    // The manager thread is inside the launcher: counted once, and shown apart.
    const total = Object.entries(perProcess).reduce((x, [name, ns]) => (name === 'manager' ? x : x + ns), 0)
    perProcess.launcher -= perProcess.manager
    const seconds = (b.t - a.t) / 1000
    return {
      mpps: packets / seconds / 1e6,
      nsPerPacket: total,
      perProcess,
      switchesPerKPacket: Object.fromEntries(Object.keys(b.switches).map((name) => [name, ((b.switches[name] - (a.switches[name] ?? 0)) * 1000) / packets])),
      managerSleepsPerSecond: (b.managerSleeps - a.managerSleeps) / seconds,
      managerTimeoutsPerSecond: (b.managerSleeps - a.managerSleeps - (b.managerWakeups - a.managerWakeups)) / seconds,
      heldPerPacket: (b.managerHeld - a.managerHeld) / packets,
      refusedPerPacket: Object.fromEntries(Object.keys(b.refused).map((name) => [name, (b.refused[name] - (a.refused[name] ?? 0)) / packets])),
    }
  })
}

/**
 * The isolated chain at rest: its generator sends one packet, then nothing; after two seconds
 * for it to settle (its NFs are called at idle() once a second has passed without a packet),
 * the CPU of all its processes over IDLE_WINDOW_MS, as % of one core, by process.
 */
function restingChain(): Promise<Record<string, number>> {
  return withChain(specOf(VARIANTS[0], 1), async (o, launcher, exited) => {
    await sleep(2000)
    const a = sample(o, launcher)
    await sleep(IDLE_WINDOW_MS)
    const b = sample(o, launcher)
    if (exited()) throw new Error('the chain exited during the measurement')
    const share = (name: string) => ((b.cpu[name] - (a.cpu[name] ?? 0)) * 1000) / (b.t - a.t) * 100
    const byProcess = Object.fromEntries(Object.keys(b.cpu).map((name) => [name, share(name)]))
    byProcess.launcher -= byProcess.manager
    return byProcess
  })
}

/**
 * Runs `xio-chain run --no-tui` on spec under a prefix of its own, and body once packets reach
 * the sink; every exit path stops the chain and removes its region. `runArgs`: more of run's options.
 */
export async function withChain<T>(spec: object, body: (o: Observer, launcher: number, exited: () => boolean) => Promise<T>, runArgs: string[] = []): Promise<T> {
  const prefix = `bench-chain-${process.pid}`
  const specFile = join(tmpdir(), `xio-bench-chain-${process.pid}.json`)
  writeFileSync(specFile, JSON.stringify(spec))
  rmSync(`/dev/shm/xio.${prefix}`, { force: true })
  let stderr = ''
  const chain = spawn(process.execPath, [join(root, 'bin/xio-chain.js'), 'run', specFile, '--no-tui', '--prefix', prefix, '--duration', String(DURATION_S), ...runArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  chain.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)))
  const exited = new Promise((r) => chain.once('exit', r))
  // This process leaving any way (main.ts's Ctrl-C handler exits at once): the chain stops too.
  const stopChain = () => chain.kill('SIGINT')
  process.on('exit', stopChain)
  let o: Observer | undefined
  try {
    o = await attachObserver(prefix, chain)
    return await body(o, chain.pid!, () => chain.exitCode !== null)
  } catch (e) {
    throw new Error(`${(e as Error).message}${stderr ? `\nchain stderr:\n${stderr}` : ''}`)
  } finally {
    o?.close()
    // SIGINT: the launcher drains, stops its NFs and removes the region, as on Ctrl-C.
    chain.kill('SIGINT')
    const killer = setTimeout(() => chain.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(killer)
    // A launcher killed outright leaves its region, and any file named after it (an NF's kept
    // state, xio.<prefix>.state.*); its NFs leave once the manager is gone.
    for (const f of readdirSync('/dev/shm')) if (f === `xio.${prefix}` || f.startsWith(`xio.${prefix}.`)) rmSync(`/dev/shm/${f}`, { force: true })
    rmSync(specFile, { force: true })
    process.off('exit', stopChain)
  }
}

/** The chain's frames as its generator builds them (one per flow), strided like the pool's buffers. */
function generatorFrames(): Traffic {
  const bytes = new Uint8Array(FLOWS * SLOT)
  const lengths = new Int32Array(FLOWS)
  for (let i = 0; i < FLOWS; i++) {
    const src = SRC_NET | ((i + 1) & 0xffff)
    const dst = DST_NET | ((i * 7 + 1) & 0xff)
    lengths[i] = buildIpv4Frame(bytes, i * SLOT, { src, dst, proto: IPPROTO_UDP, srcPort: 1024 + (i % 60000), dstPort: DST_PORT, size: FRAME })
  }
  return { bytes, lengths, count: FLOWS }
}

/**
 * The floor: ns per packet of the firewall and of the NAT's outbound translation, each alone in
 * this process on the chain's frames, with warm flow tables (as in the chain, where 1,024
 * flows repeat). The NAT rewrites a frame in place, so each is restored from a pristine copy
 * before it; the restore alone is measured too and taken off.
 */
function nfFloor(): { fw: number; nat: number } {
  const frames = generatorFrames()
  const pristine = frames.bytes.slice()
  const fw = firewall.create(firewallConfig() as Parameters<typeof firewall.create>[0], env)
  const fwNs = measure(frames, (p) => {
    if (fw.process(p) !== 0) throw new Error('chain bench: the firewall drops the generator\'s frames')
  }, packetOver(frames, 1))
  const nt = nat.create(natConfig, env)
  const restore = (p: { at: number; length: number }) => frames.bytes.set(pristine.subarray(p.at, p.at + p.length), p.at)
  const both = measure(frames, (p) => {
    restore(p)
    if (nt.process(p) !== 1) throw new Error('chain bench: the NAT does not translate the generator\'s frames')
  }, packetOver(frames, 1))
  const restoreOnly = measure(frames, restore, packetOver(frames, 1))
  return { fw: fwNs, nat: Math.max(0, both - restoreOnly) }
}

export async function run(report: Report): Promise<void> {
  report.section(`Chain: ${SOURCE} (generator, ${FRAME} B, ${FLOWS} flows) → firewall (${RULES} rules) → NAT → ${SINK} (sink), full rate`)
  report.add('load average (1 min) before', loadAverage(), '')
  const floor = nfFloor()
  report.add('floor: firewall alone (bench/nfs.ts machinery)', floor.fw, 'ns/packet')
  report.add('floor: NAT outbound alone', floor.nat, 'ns/packet')
  // The variants take turns, ROUNDS times: a noisy minute then slows both, not one. Each
  // variant's figures are its median round's (by Mpps), with the range of its rounds' Mpps.
  const runs = new Map<Variant, ChainRun[]>(VARIANTS.map((v) => [v, []]))
  for (let round = 0; round < ROUNDS; round++) for (const v of VARIANTS) runs.get(v)!.push(await runChain(v))
  const medians = new Map<Variant, ChainRun>()
  for (const v of VARIANTS) {
    const rounds = runs.get(v)!.sort((a, b) => a.mpps - b.mpps)
    const r = rounds[rounds.length >> 1]
    medians.set(v, r)
    report.add(`${v.name}: at the sink${v.target ? ` (target >= ${v.target})` : ''}`, r.mpps, 'Mpps')
    report.add(`  slowest of its ${ROUNDS} rounds`, rounds[0].mpps, 'Mpps')
    report.add(`  fastest of its ${ROUNDS} rounds`, rounds[rounds.length - 1].mpps, 'Mpps')
    if (v.links) report.add(`${v.name}: CPU per packet, all processes`, r.nsPerPacket, 'ns/packet')
    else report.relative(`${v.name}: CPU per packet, all processes`, r.nsPerPacket, 'ns/packet', 'fw + NAT alone', floor.fw + floor.nat)
    for (const [name, ns] of Object.entries(r.perProcess))
      report.add(`  ${{ launcher: 'launcher but its manager thread (generator, sink)', manager: 'manager thread' }[name] ?? `${name} process`}`, ns, 'ns/packet')
    for (const [name, n] of Object.entries(r.switchesPerKPacket))
      report.add(`  context switches, ${{ launcher: 'launcher\'s JS thread', manager: 'manager thread' }[name] ?? `${name} process`}`, n, 'per 1k packets')
    // A loaded chain should never sleep (DESIGN.md): a manager that does, while NFs find their
    // TX rings full, is waiting out its 1 ms retry for a full RX ring that drained meanwhile.
    report.add(`  manager sleeps while loaded`, r.managerSleepsPerSecond, '/s')
    report.add(`  of which ran to their timeout (no wake came)`, r.managerTimeoutsPerSecond, '/s')
    report.add(`  descriptors held by the manager for a full RX ring`, r.heldPerPacket, 'per packet')
    for (const [name, n] of Object.entries(r.refusedPerPacket)) report.add(`  ${name}'s sends refused by its full TX ring (retried)`, n, 'per packet')
  }
  // What the targets ask beside what this machine could carry at the chain's own cost.
  const machineCpus = onlineCpus().size
  for (const v of VARIANTS.filter((x) => x.target)) {
    const oneCpu = medians.get(VARIANTS.find((x) => x.name === `${v.name}${ONE_CPU}`)!)!
    const r = medians.get(v)!
    report.compare(`${v.name}: CPU per packet on ${machineCpus} CPUs`, r.nsPerPacket, 'ns/packet', 'on one CPU', oneCpu.nsPerPacket, 'lower')
    report.compare(`${v.name}: at the sink, against the most ${machineCpus} CPUs carry at its one-CPU cost`, r.mpps, 'Mpps', 'that ceiling', (machineCpus * 1e3) / oneCpu.nsPerPacket, 'higher')
    // The target as a budget: what every process of the chain may spend on a packet, in all,
    // for the machine's CPUs to carry the target; beside it the two NFs' own code alone.
    report.compare(`${v.name}: CPU a packet may cost in all at ${v.target} Mpps on ${machineCpus} CPUs`, (machineCpus * 1e3) / v.target!, 'ns/packet', 'fw + NAT alone', floor.fw + floor.nat, 'higher')
  }
  // The group's process is the one a CPU of its own cannot carry faster: beside the same
  // process running two forwarders, what is the platform's and what is fw's and NAT's.
  const grouped = medians.get(VARIANTS.find((x) => x.name === 'grouped')!)!
  const forwarders = medians.get(VARIANTS.find((x) => x.name === FORWARDERS)!)!
  report.compare('grouped: at the sink', grouped.mpps, 'Mpps', 'two forwarders in the group', forwarders.mpps, 'higher')
  report.compare('grouped: the group\'s process, CPU per packet', grouped.perProcess.fw, 'ns/packet', 'two forwarders\'', forwarders.perProcess.fwd1, 'lower')
  const besideBusy = medians.get(VARIANTS.find((x) => x.name === BESIDE_BUSY)!)!
  report.compare('two forwarders grouped, a busy loop on the manager\'s CPU: at the sink', besideBusy.mpps, 'Mpps', 'without it', forwarders.mpps, 'higher')
  // At rest: what a chain left running with nothing to carry costs (issue #11: near 0 %).
  const resting = await restingChain()
  const total = Object.values(resting).reduce((x, share) => x + share, 0)
  report.add('isolated chain at rest (its generator done): CPU of all its processes', total, '% of one core')
  for (const [name, share] of Object.entries(resting))
    report.add(`  ${{ launcher: 'launcher but its manager thread', manager: 'manager thread' }[name] ?? `${name} process`}`, share, '% of one core')
  report.add('load average (1 min) after', loadAverage(), '')
}
