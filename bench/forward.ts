// IPv4 forwarding of 64-byte UDP between two network namespaces, through three routers in
// one run, each case with the same generator and counter (bench/peers/udp-flood.c):
//
//   (a) xio-chain: lan -> rlan -> fw (100 rules) -> nat (masquerade) -> rwan -> wan, the shape
//       of chains/lab-fw-nat.json, with afpacket ports on the router's two interfaces;
//   (b) Linux forwarding with nftables: the same 100 rules in a forward chain + masquerade;
//   (c) Linux forwarding with no rules at all;
//   and two references: (b') is (b) with the router's work moved off the generator's CPU
//   (a veth hands a frame to its peer on the sending CPU, so in (b) and (c) the kernel
//   forwards in softirq on the generator's own CPU, which then also limits what it can
//   offer; (b') pins the generator to CPU 1 and steers xb-rlan's receive to CPU 0 with RPS),
//   and a direct veth between the two hosts (no router): what generator and counter manage
//   alone.
//
//   xb-lan: eth0 10.0.0.2/24 via 10.0.0.1 ──veth── xb-rlan ┐ xb-router ┌ xb-rwan ──veth── eth0 203.0.113.2/24 :xb-wan
//           eth1 198.18.0.1/30 ─────────────────── veth (the direct wire) ─────────────── eth1 198.18.0.2/30
//
// The 100 rules are drop rules of four kinds (TCP port, source prefix, destination + UDP
// port, UDP source port), none of which matches the test traffic, then the default (policy)
// allow: every packet is looked at by all 100 rules and the default, unless a router caches
// decisions (xio-chain's firewall does, per flow; nftables does not).
//
// Needs root, ip, ethtool and cc; (b) needs nft. The namespaces are this suite's own (xb-*);
// the root namespace is not touched. Everything is removed at the end, on an exception, and
// on SIGINT/SIGTERM (through the 'exit' event: bench/main.ts exits on those signals).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Report } from './report.ts'
import { jsonMode } from './report.ts'
import { SYSTEM_PATH } from '../src/cli/lab.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const peerSource = fileURLToPath(new URL('./peers/udp-flood.c', import.meta.url))
// The lab's tool PATH: the system's folders first (npm's node_modules/.bin has an unrelated nft).
const PATH = SYSTEM_PATH
/** Where system tools are looked for: that PATH without npm's node_modules/.bin, where `npm run`
 *  puts packages' commands (@vercel/nft installs an `nft`). */
const TOOL_DIRS = SYSTEM_PATH.split(':').filter((d) => d && !d.includes('node_modules'))

const NS = { lan: 'xb-lan', wan: 'xb-wan', router: 'xb-router' } as const
const RLAN = 'xb-rlan'
const RWAN = 'xb-rwan'
const PREFIX = `bench-forward-${process.pid}`

/** Seconds of measured traffic per case (XB_SECONDS shortens it while developing). */
const SECONDS = Number(process.env.XB_SECONDS ?? 5)
/** Offered rates, pps (0: flat out). 100 kpps and flat out with every case; between them a
 *  sweep of (a) alone, in shorter runs, to keep the suite under two minutes (the Linux cases
 *  are limited below 100 kpps or near it by the generator's CPU; see above).
 *  XB_RATES (comma-separated) replaces the plan while developing: every case at each rate. */
const PLAN: { rate: number; seconds: number; only?: CaseName[] }[] = process.env.XB_RATES
  ? process.env.XB_RATES.split(',').map((r) => ({ rate: Number(r), seconds: SECONDS }))
  : [
      { rate: 100_000, seconds: SECONDS },
      { rate: 150_000, seconds: Math.min(SECONDS, 3), only: ['a'] },
      { rate: 200_000, seconds: Math.min(SECONDS, 3), only: ['a'] },
      { rate: 0, seconds: SECONDS },
    ]
const FLOWS = 64
const FIRST_SRC_PORT = 10000
const DST_PORT = 9000
const PAYLOAD = 18 // 14 Ethernet + 20 IPv4 + 8 UDP + 18 = 60 bytes as Linux sees the frame (64 with a wire's FCS)
const RULES = 100
const HZ = 100 // USER_HZ: the unit of /proc/stat and /proc/<pid>/stat

type CaseName = 'a' | 'b' | 'rps' | 'c' | 'direct'
const LABEL: Record<CaseName, string> = {
  a: '(a) xio-chain fw+NAT',
  b: '(b) Linux nftables fw+NAT',
  rps: "(b') as (b), router on CPU 0 by RPS",
  c: '(c) Linux, no rules',
  direct: 'direct veth, no router',
}
/** (b'): where the generator runs, and where RPS sends the router's receive. */
const RPS_GENERATOR_CPU = 1
const RPS_ROUTER_CPU = 0

const note = (line: string) => {
  if (!jsonMode()) console.log(`  ${line}`)
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function sh(command: string, ...args: string[]): string {
  try {
    return execFileSync(tool(command), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH } })
  } catch (e) {
    const error = e as { stderr?: string; message: string }
    throw new Error(`${command} ${args.join(' ')}: ${(error.stderr || error.message).trim()}`)
  }
}
const inNs = (ns: string, command: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, tool(command), ...args)
/** The system's `name` as an absolute path, or null. */
function which(name: string): string | null {
  for (const dir of TOOL_DIRS) {
    try {
      const path = join(dir, name)
      if (statSync(path).isFile()) return path
    } catch {}
  }
  return null
}
const has = (command: string) => which(command) !== null
const tool = (command: string) => which(command) ?? command

// ---- the rules, written once for each router -------------------------------------------

interface Rule {
  xio: Record<string, unknown>
  nft: string
}

function rules(): Rule[] {
  const out: Rule[] = []
  for (let i = 0; i < RULES; i++) {
    const port = 1000 + i
    switch (i % 4) {
      case 0:
        out.push({ xio: { action: 'drop', proto: 'tcp', dstPort: port }, nft: `tcp dport ${port} drop` })
        break
      case 1:
        out.push({ xio: { action: 'drop', src: `198.18.${i}.0/24` }, nft: `ip saddr 198.18.${i}.0/24 drop` })
        break
      case 2:
        out.push({ xio: { action: 'drop', proto: 'udp', dst: '203.0.113.2', dstPort: port }, nft: `ip daddr 203.0.113.2 udp dport ${port} drop` })
        break
      default:
        out.push({ xio: { action: 'drop', proto: 'udp', srcPort: 40000 + i }, nft: `udp sport ${40000 + i} drop` })
    }
  }
  return out
}

function chainSpec(): object {
  return {
    name: 'bench-forward',
    description: 'chains/lab-fw-nat.json with 100 firewall rules (none matching the bench traffic) and no port forward, on the xb-router namespace\'s interfaces',
    pool: { buffers: 8192 },
    endpoints: {
      lan: { kind: 'afpacket', interface: RLAN },
      wan: { kind: 'afpacket', interface: RWAN },
      rlan: { kind: 'router', config: { address: '10.0.0.1/24' } },
      rwan: { kind: 'router', config: { address: '203.0.113.1/24' } },
      fw: { kind: 'firewall', config: { default: 'allow', rules: rules().map((r) => r.xio) } },
      nat: { kind: 'nat', config: { external: '203.0.113.1', inside: '10.0.0.0/24', ports: [20000, 29999] } },
    },
    links: [
      'lan -> rlan', 'rlan.chain -> fw', 'fw -> nat', 'nat.outside -> rwan', 'rwan.wire -> wan',
      'wan -> rwan', 'rwan.chain -> nat', 'nat.inside -> rlan', 'rlan.wire -> lan',
    ],
  }
}

function nftRuleset(): string {
  return [
    'table ip xbench {',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...rules().map((r) => `    ${r.nft}`),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname "${RWAN}" ip saddr 10.0.0.0/24 meta l4proto { tcp, udp } masquerade to :20000-29999`,
    `    oifname "${RWAN}" ip saddr 10.0.0.0/24 masquerade`,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** Whether bin/xio-chain.js will run dist/ (as it decides: dist/ no older than anything in src/). */
function compiledIsFresh(): boolean {
  const compiled = join(root, 'dist/cli/main.js')
  if (!existsSync(compiled)) return false
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0)
  return statSync(compiled).mtimeMs >= newest(join(root, 'src'))
}

// ---- namespaces --------------------------------------------------------------------------

function namespaces(): Set<string> {
  return new Set(sh('ip', 'netns', 'list').split('\n').map((l) => l.split(' ')[0]).filter(Boolean))
}

function setUp(): void {
  for (const ns of Object.values(NS)) {
    sh('ip', 'netns', 'add', ns)
    inNs(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1')
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
  }
  // Made inside the namespaces, so no interface ever exists in the root namespace.
  sh('ip', '-n', NS.router, 'link', 'add', RLAN, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.lan)
  sh('ip', '-n', NS.router, 'link', 'add', RWAN, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.wan)
  sh('ip', '-n', NS.lan, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', NS.wan)
  for (const [ns, dev] of [[NS.lan, 'eth0'], [NS.wan, 'eth0'], [NS.lan, 'eth1'], [NS.wan, 'eth1']]) {
    inNs(ns, 'ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off')
    sh('ip', '-n', ns, 'link', 'set', dev, 'up')
  }
  for (const dev of [RLAN, RWAN]) sh('ip', '-n', NS.router, 'link', 'set', dev, 'up')
  sh('ip', '-n', NS.lan, 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0')
  sh('ip', '-n', NS.lan, 'route', 'add', 'default', 'via', '10.0.0.1')
  sh('ip', '-n', NS.wan, 'addr', 'add', '203.0.113.2/24', 'dev', 'eth0')
  sh('ip', '-n', NS.lan, 'addr', 'add', '198.18.0.1/30', 'dev', 'eth1')
  sh('ip', '-n', NS.wan, 'addr', 'add', '198.18.0.2/30', 'dev', 'eth1')
  // (c) carries the inside addresses unchanged: no reverse-path filter may drop them.
  inNs(NS.wan, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0')
}

/** The router namespace as each case needs it. */
function configureRouter(kind: CaseName): void {
  const linux = kind === 'b' || kind === 'rps' || kind === 'c'
  for (const [dev, address] of [[RLAN, '10.0.0.1/24'], [RWAN, '203.0.113.1/24']]) {
    sh('ip', '-n', NS.router, 'addr', 'flush', 'dev', dev)
    if (linux) sh('ip', '-n', NS.router, 'addr', 'add', address, 'dev', dev)
  }
  inNs(NS.router, 'sysctl', '-qw', `net.ipv4.ip_forward=${linux ? 1 : 0}`)
  if (has('nft')) inNs(NS.router, 'nft', 'flush', 'ruleset')
  const rps = kind === 'rps' ? (1 << RPS_ROUTER_CPU).toString(16) : '0'
  inNs(NS.router, 'sh', '-c', `echo ${rps} > /sys/class/net/${RLAN}/queues/rx-0/rps_cpus`)
  if (kind === 'b' || kind === 'rps') {
    const file = join(work(), 'ruleset.nft')
    writeFileSync(file, nftRuleset())
    inNs(NS.router, 'nft', '-f', file)
  }
  // The router's MAC changes between xio-chain's legs and the kernel's interfaces.
  for (const ns of [NS.lan, NS.wan, NS.router]) sh('ip', '-n', ns, 'neigh', 'flush', 'all')
}

// ---- processes we start, and the teardown ------------------------------------------------

let workDir: string | null = null
const work = () => (workDir ??= mkdtempSync(join(tmpdir(), 'xio-bench-forward-')))
const started = new Set<ChildProcess>()
let setUpDone = false

/** Running (not gone, not a zombie waiting for an event loop that is blocked in 'exit'). */
function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Synchronous, idempotent: runs from finally and from the 'exit' event alike. */
function tearDown(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
  const deadline = Date.now() + 3000
  while ([...started].some((c) => c.pid && alive(c.pid) && c.exitCode === null) && Date.now() < deadline) sleepSync(20)
  for (const child of started) if (child.pid && alive(child.pid) && child.exitCode === null) child.kill('SIGKILL')
  started.clear()
  if (setUpDone) {
    let present: Set<string>
    try {
      present = namespaces()
    } catch {
      present = new Set()
    }
    for (const ns of Object.values(NS)) {
      if (!present.has(ns)) continue
      // Whatever still runs in a namespace of ours was started by this suite (the chain's NFs).
      try {
        for (const pid of sh('ip', 'netns', 'pids', ns).split('\n').filter(Boolean).map(Number)) process.kill(pid, 'SIGKILL')
      } catch {}
      try {
        sh('ip', 'netns', 'del', ns) // its veths go with it
      } catch {}
    }
    setUpDone = false
  }
  rmSync(`/dev/shm/xio.${PREFIX}`, { force: true })
  if (workDir) rmSync(workDir, { recursive: true, force: true })
  workDir = null
}

interface Proc {
  child: ChildProcess
  lines: string[]
  exited: Promise<number | null>
  waitLine(test: (line: string) => boolean, timeoutMs: number, what: string): Promise<string>
}

function startProc(command: string, args: string[]): Proc {
  const child = spawn(tool(command), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH } })
  started.add(child)
  const lines: string[] = []
  const waiters: (() => void)[] = []
  let buf = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => {
    buf += c
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl))
      buf = buf.slice(nl + 1)
    }
    for (const w of waiters.splice(0)) w()
  })
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000)
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      started.delete(child)
      for (const w of waiters.splice(0)) w()
      resolve(code)
    }),
  )
  let seen = 0
  const waitLine = async (test: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      for (; seen < lines.length; seen++) if (test(lines[seen])) return lines[seen++]
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${what}: ${command} ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) first${stderr ? `:\n${stderr.trim()}` : ''}`)
      if (Date.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs} ms`)
      await new Promise<void>((r) => {
        waiters.push(r)
        setTimeout(r, 50)
      })
    }
  }
  return { child, lines, exited, waitLine }
}

// ---- CPU accounting --------------------------------------------------------------------

interface CpuStat {
  busy: number // user + nice + system + irq + softirq, all CPUs (ticks)
  softirq: number
  total: number // busy + idle + iowait (steal left out)
  /** The same per CPU. */
  cpus: { busy: number; softirq: number }[]
}

function procStat(): CpuStat {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d* /.test(l))
  const parse = (line: string) => {
    const [user, nice, system, idle, iowait, irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number)
    const busy = user + nice + system + irq + softirq
    return { busy, softirq, total: busy + idle + iowait }
  }
  return { ...parse(lines[0]), cpus: lines.slice(1).map(parse) }
}

/** CPU ticks of the xio-chain processes by who spent them: the run process's main (JS) thread,
 *  its manager thread (the one pinned to one CPU), the four afpacket threads (the first four
 *  threads created after the manager: port by port in the spec's order, each port's receiver
 *  before its transmitter, afpacket.cc; threads made later, as V8 may, do not shift them), its
 *  other threads (libuv, V8) together; each NF process whole, named by its endpoint. */
function chainThreads(pids: number[], runPid: number): Map<string, number> {
  const out = new Map<string, number>()
  const add = (k: string, v: number) => Number.isFinite(v) && out.set(k, (out.get(k) ?? 0) + v)
  for (const pid of pids) {
    if (pid !== runPid) {
      let name = `process ${pid}`
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
        const at = argv.findIndex((a) => /nf-process\.(ts|js)$/.test(a))
        if (at >= 0) name = `NF ${argv[at + 2]}`
      } catch {}
      add(name, processTicks(pid))
      continue
    }
    let tids: number[] = []
    try {
      tids = readdirSync(`/proc/${pid}/task`).map(Number).sort((x, y) => x - y)
    } catch {}
    const pinned = (tid: number) => {
      try {
        const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1]
        return allowed !== undefined && /^\d+$/.test(allowed) && cpus().length > 1
      } catch {
        return false
      }
    }
    const manager = tids.find((t) => t !== pid && pinned(t))
    const ports = manager === undefined ? [] : tids.filter((t) => t > manager).slice(0, 4)
    const portNames = ['afpacket lan receiver', 'afpacket lan transmitter', 'afpacket wan receiver', 'afpacket wan transmitter']
    for (const tid of tids) {
      const label =
        tid === pid ? 'main (JS)' : tid === manager ? 'manager' : ports.length === 4 && ports.includes(tid) ? portNames[ports.indexOf(tid)] : 'other threads'
      add(`run: ${label}`, processTicks(`${pid}/task/${tid}`))
    }
  }
  return out
}

/** user + system ticks of a process (all its threads, the exited ones included). */
function processTicks(pid: number | string): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return NaN
  }
}

/** The process and all its descendants. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8')
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)])
    } catch {}
  }
  const out: number[] = []
  const walk = (p: number) => {
    out.push(p)
    for (const c of children.get(p) ?? []) walk(c)
  }
  walk(pid)
  return out
}

function ksoftirqds(): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (readFileSync(`/proc/${e}/comm`, 'utf8').startsWith('ksoftirqd/')) out.push(Number(e))
    } catch {}
  }
  return out
}

/** Backlog drops summed over CPUs (/proc/net/softnet_stat's second column; global, not per namespace). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((s, l) => s + parseInt(l.trim().split(/\s+/)[1], 16), 0)
}

interface Sample {
  t: number
  stat: CpuStat
  chain: Map<number, number>
  gen: number
  counter: number
  ksoftirqd: number
  backlogDrops: number
  threads: Map<string, number>
}

function sample(chainPid: number | undefined, genPid: number, counterPid: number): Sample {
  const chain = new Map<number, number>()
  const pids = chainPid === undefined ? [] : tree(chainPid)
  for (const pid of pids) chain.set(pid, processTicks(pid))
  return {
    threads: chainPid === undefined ? new Map() : chainThreads(pids, chainPid),
    t: performance.now(),
    stat: procStat(),
    chain,
    gen: processTicks(genPid),
    counter: processTicks(counterPid),
    ksoftirqd: ksoftirqds().reduce((s, p) => s + (processTicks(p) || 0), 0),
    backlogDrops: backlogDrops(),
  }
}

/** Chain CPU ticks between two samples: every process seen at both (an NF restarted meanwhile is missed). */
function chainTicks(a: Sample, b: Sample): { ticks: number; processes: number } {
  let ticks = 0, processes = 0
  for (const [pid, t] of b.chain) {
    const t0 = a.chain.get(pid)
    if (t0 === undefined || !Number.isFinite(t) || !Number.isFinite(t0)) continue
    ticks += t - t0
    processes++
  }
  return { ticks, processes }
}

// ---- one case ----------------------------------------------------------------------------

interface Count {
  received: number
  ifaceRx: number
  udpIn: number
  rcvbufErrors: number
  sources: number
  lastSource: string
}

interface Outcome {
  kind: CaseName
  rate: number
  offered: number // pps sent by the generator
  delivered: number // pps received by the counter
  loss: number // %
  /** CPU seconds per second over the window, by who spent it. */
  cpu: { chain: number; softirq: number; busy: number; gen: number; counter: number; ksoftirqd: number; backgroundSoftirq: number; backgroundBusy: number }
  /** ns of CPU per delivered packet, as this case's forwarding path is measured (see header). */
  nsPerPacket: number
  counts: { sent: number; received: number; arrived: number; rcvbufErrors: number; txDropped: number; backlogDrops: number; genErrors: number }
  /** What the counter saw arrive: distinct source address:port pairs, and the last. */
  sources: { count: number; last: string }
  /** (b): conntrack entries in the router namespace after the run. */
  conntrack?: number
  chainProcesses?: number
  /** (a): CPU-s/s of each chain thread or process (see chainThreads), busiest first. */
  threads?: [string, number][]
  /** Busy and softirq CPU-s/s of each CPU. */
  perCpu: { busy: number; softirq: number }[]
  ports?: Record<string, Record<string, number>>
}

let peer = ''

async function runCase(kind: CaseName, rate: number, seconds: number): Promise<Outcome> {
  configureRouter(kind)
  const direct = kind === 'direct'
  let chain: Proc | undefined
  if (kind === 'a') {
    const spec = join(work(), 'chain.json')
    writeFileSync(spec, JSON.stringify(chainSpec(), null, 2))
    rmSync(`/dev/shm/xio.${PREFIX}`, { force: true })
    chain = startProc('ip', ['netns', 'exec', NS.router, process.execPath, join(root, 'bin/xio-chain.js'), 'run', spec, '--no-tui', '--prefix', PREFIX])
    await chain.waitLine((l) => l.includes('running on prefix'), 60_000, 'xio-chain run')
  }
  const counter = startProc('ip', ['netns', 'exec', NS.wan, peer, 'count', direct ? '198.18.0.2' : '203.0.113.2', String(DST_PORT), direct ? 'eth1' : 'eth0', String(seconds + 60)])
  await counter.waitLine((l) => l === 'ready', 5000, 'counter')
  const dst = direct ? '198.18.0.2' : '203.0.113.2'
  const src = direct ? '198.18.0.1' : '10.0.0.2'
  const generator = (r: number, seconds: number) =>
    startProc('ip', ['netns', 'exec', NS.lan, peer, 'send', src, dst, String(DST_PORT), String(FIRST_SRC_PORT), String(FLOWS), String(r), String(seconds), String(Math.ceil((r || 5e6) * seconds * 1.1)), String(PAYLOAD), String(kind === 'rps' ? RPS_GENERATOR_CPU : -1)])
  try {
    // Warm-up: neighbours resolved, every flow's NAT mapping and conntrack entry made.
    const warm = generator(20_000, 0.5)
    await warm.exited
    await sleep(300)
    // The machine's background over half a second with no traffic (for the softirq figures).
    const counterPid = counter.child.pid!
    const b0 = sample(chain?.child.pid, counterPid, counterPid)
    await sleep(500)
    const b1 = sample(chain?.child.pid, counterPid, counterPid)
    const bgSeconds = (b1.t - b0.t) / 1000
    const backgroundSoftirq = (b1.stat.softirq - b0.stat.softirq) / HZ / bgSeconds
    const backgroundBusy = (b1.stat.busy - b0.stat.busy) / HZ / bgSeconds - (kind === 'a' ? chainTicks(b0, b1).ticks / HZ / bgSeconds : 0)

    const countLine = async (): Promise<Count> => {
      counter.child.kill('SIGUSR1')
      return JSON.parse(await counter.waitLine((l) => l.startsWith('{'), 5000, 'counter count')) as Count
    }
    const c0 = await countLine()
    const gen = generator(rate, seconds)
    await gen.waitLine((l) => l === 'start', 5000, 'generator')
    const s0 = sample(chain?.child.pid, gen.child.pid!, counterPid)
    const result = JSON.parse(await gen.waitLine((l) => l.startsWith('{'), (seconds + 10) * 1000, 'generator result')) as {
      sent: number; seconds: number; errors: number; txPackets: number; txDropped: number
    }
    const s1 = sample(chain?.child.pid, gen.child.pid!, counterPid)
    await gen.exited
    const conntrack = kind === 'b' || kind === 'rps' ? Number(inNs(NS.router, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count').trim()) : undefined
    await sleep(300) // what is still in flight arrives
    const c1 = await countLine()
    counter.child.kill('SIGTERM')
    await counter.exited

    let ports: Record<string, Record<string, number>> | undefined
    if (chain) {
      chain.child.kill('SIGINT')
      await chain.exited
      ports = {}
      for (const l of chain.lines) {
        const m = /^(lan|wan): (\{.*\})$/.exec(l)
        if (m) ports[m[1]] = JSON.parse(m[2]) as Record<string, number>
      }
    }

    const window = (s1.t - s0.t) / 1000
    const received = c1.received - c0.received
    const perSecond = (ticks: number) => ticks / HZ / window
    const { ticks: chainT, processes } = chainTicks(s0, s1)
    const cpu = {
      chain: perSecond(chainT),
      softirq: perSecond(s1.stat.softirq - s0.stat.softirq),
      busy: perSecond(s1.stat.busy - s0.stat.busy),
      gen: perSecond(s1.gen - s0.gen),
      counter: perSecond(s1.counter - s0.counter),
      ksoftirqd: perSecond(s1.ksoftirqd - s0.ksoftirqd),
      backgroundSoftirq,
      backgroundBusy,
    }
    const delivered = received / result.seconds
    const forwarding = kind === 'a' ? cpu.chain : Math.max(0, cpu.softirq - backgroundSoftirq)
    return {
      kind,
      rate,
      offered: result.sent / result.seconds,
      delivered,
      loss: result.sent ? (1 - received / result.sent) * 100 : NaN,
      cpu,
      nsPerPacket: delivered > 0 ? (forwarding / delivered) * 1e9 : NaN,
      counts: {
        sent: result.sent,
        received,
        arrived: c1.ifaceRx - c0.ifaceRx,
        rcvbufErrors: c1.rcvbufErrors - c0.rcvbufErrors,
        txDropped: result.txDropped,
        backlogDrops: s1.backlogDrops - s0.backlogDrops,
        genErrors: result.errors,
      },
      sources: { count: c1.sources, last: c1.lastSource },
      conntrack,
      chainProcesses: chain ? processes : undefined,
      threads: chain
        ? [...s1.threads].map(([k, v]): [string, number] => [k, perSecond(v - (s0.threads.get(k) ?? NaN))]).filter(([, v]) => Number.isFinite(v)).sort((x, y) => y[1] - x[1])
        : undefined,
      perCpu: s1.stat.cpus.map((c, i) => ({ busy: perSecond(c.busy - s0.stat.cpus[i].busy), softirq: perSecond(c.softirq - s0.stat.cpus[i].softirq) })),
      ports,
    }
  } finally {
    for (const p of [counter, chain]) if (p && p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGINT')
      await Promise.race([p.exited, sleep(5000)])
    }
  }
}

// ---- the report --------------------------------------------------------------------------

const rateName = (rate: number) => (rate ? `${rate / 1000} kpps offered` : 'flat out')
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : String(v))

function describe(o: Outcome): void {
  const c = o.counts
  note(
    `${LABEL[o.kind]}: sent ${c.sent}, arrived at the wan host ${c.arrived}, received ${c.received}` +
      ` (socket overflows ${c.rcvbufErrors}, lan veth refused ${c.txDropped}, backlog drops ${c.backlogDrops}, send errors ${c.genErrors});` +
      ` CPU-s/s: generator ${fmt(o.cpu.gen)}, counter ${fmt(o.cpu.counter)}, softirq ${fmt(o.cpu.softirq)} (background ${fmt(o.cpu.backgroundSoftirq)}),` +
      ` ksoftirqd ${fmt(o.cpu.ksoftirqd)}, whole machine ${fmt(o.cpu.busy)} (${fmt((o.cpu.busy / o.delivered) * 1e9, 0)} ns per delivered packet, generator and counter included)` +
      `${o.kind === 'a' ? `, chain ${fmt(o.cpu.chain)} (${o.chainProcesses} processes)` : ''}`,
  )
  note(`${LABEL[o.kind]}: the counter saw ${o.sources.count} source address:port pairs, the last ${o.sources.last}${o.conntrack !== undefined ? `; conntrack entries in xb-router: ${o.conntrack}` : ''}`)
  note(`${LABEL[o.kind]}: before the traffic (0.5 s): machine busy ${fmt(Math.max(0, o.cpu.backgroundBusy))} CPU-s/s${o.kind === 'a' ? ' besides the chain' : ''}, softirq ${fmt(o.cpu.backgroundSoftirq)} (other work on the machine shows here)`)
  note(`${LABEL[o.kind]}: per CPU busy (of which softirq): ${o.perCpu.map((c, i) => `CPU${i} ${fmt(c.busy * 100, 0)} % (${fmt(c.softirq * 100, 0)} %)`).join(', ')}`)
  if (o.threads) note(`${LABEL[o.kind]}: chain CPU-s/s by thread/process: ${o.threads.filter(([, v]) => v >= 0.01).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`)
  if (o.ports)
    for (const [name, s] of Object.entries(o.ports))
      note(`${LABEL[o.kind]} port ${name}: rx ${s.rxFrames} tx ${s.txFrames} kernelDrops ${s.kernelDrops} txErrors ${s.txErrors} poolWaits ${s.poolWaits} oversize ${s.oversize}`)
}

function compareCases(report: Report, title: string, ours: Outcome, theirs: Outcome | undefined): void {
  const at = rateName(ours.rate)
  const vs = theirs ? LABEL[theirs.kind] : ''
  const line = (what: string, unit: string, pick: (o: Outcome) => number, better: 'higher' | 'lower', scale = 1) => {
    const v = pick(ours) * scale
    const name = `${at}: ${what}, ${title}`
    if (!theirs) return report.add(name, v, unit)
    const p = pick(theirs) * scale
    if (v > 0 && p > 0 && Number.isFinite(v) && Number.isFinite(p)) return report.compare(name, v, unit, vs, p, better)
    report.add(`${name} (${vs}: ${fmt(p)})`, v, unit)
  }
  line('offered', 'kpps', (o) => o.offered, 'higher', 1e-3)
  line('delivered', 'kpps', (o) => o.delivered, 'higher', 1e-3)
  line('loss', '%', (o) => o.loss, 'lower')
  line('CPU per delivered packet', 'ns/packet', (o) => o.nsPerPacket, 'lower')
}

export async function run(report: Report): Promise<void> {
  report.section(`Forwarding: ${FLOWS} flows of 60-byte UDP frames (64 on a wire), lan → router → wan`)
  const missing = ['ip', 'ethtool', 'cc'].filter((c) => !has(c))
  if (process.getuid?.() !== 0 || missing.length) {
    note(`skipped: needs root${missing.length ? ` and ${missing.join(', ')}` : ''} (network namespaces, veths, a C peer)`)
    return
  }
  const leftovers = [...namespaces()].filter((ns) => (Object.values(NS) as string[]).includes(ns))
  if (leftovers.length) {
    note(`skipped: namespaces ${leftovers.join(', ')} exist (another run of this suite, or one killed with -9); remove them with: ip netns del <name>`)
    return
  }
  const withNft = has('nft')
  if (!withNft) note('nft is not installed (Debian/Ubuntu: apt-get install nftables): (b) is skipped; ratios are to (c) instead')

  const onExit = () => tearDown()
  process.on('exit', onExit)
  try {
    peer = join(work(), 'udp-flood')
    sh('cc', '-O2', '-Wall', '-o', peer, peerSource)
    setUpDone = true
    setUp()
    const chainRuns = compiledIsFresh() ? 'the compiled dist/' : 'src/ through tsx: dist/ is older than src/'
    note(`xb-lan → xb-router → xb-wan; (a) runs \`xio-chain run\` inside xb-router (${chainRuns}); rules: ${RULES} drop rules, none matching, then the default allow`)
    for (const line of [
      'CPU per delivered packet, over the generator\'s sending window:',
      '  (a): user + system time of the `xio-chain run` process (all its threads) and of its NF processes (/proc/<pid>/stat);',
      '  (b), (b\'), (c): softirq time on all CPUs (/proc/stat), minus the background measured for 0.5 s just before with no traffic;',
      '  the kernel forwards in softirq, wherever it runs (in the generator\'s system call, in ksoftirqd).',
      '  Both include the wan host\'s own receive (IP, UDP, the counter\'s socket): the veth runs it at once on the sending CPU,',
      '  in softirq for (b)/(c) and in the afpacket transmitter thread\'s sendmmsg for (a). Neither includes the generator\'s',
      '  send path or the counter\'s recvmmsg. (a) leaves out the kernel\'s AF_PACKET receive (done in the generator\'s',
      '  softirq): estimated separately below. This kernel samples CPU time at 250 Hz (tick accounting).',
      '  "whole machine" per delivered packet counts everything (generator and counter too), as a cross-check.',
    ])
      note(line)

    // XB_CASES (a comma-separated subset of direct,c,b,a) is for development only.
    const only = process.env.XB_CASES?.split(',')
    const cases = (['direct', 'c', 'b', 'rps', 'a'] as CaseName[]).filter(
      (k) => (withNft || (k !== 'b' && k !== 'rps')) && (k !== 'rps' || cpus().length > 1) && (!only || only.includes(k)),
    )
    const all: Outcome[] = []
    for (const { rate, seconds, only: planned } of PLAN) {
      report.section(`Forwarding, ${rateName(rate)}, ${seconds} s a case`)
      const out = new Map<CaseName, Outcome>()
      for (const kind of cases.filter((k) => !planned || planned.includes(k))) {
        const o = await runCase(kind, rate, seconds)
        out.set(kind, o)
        all.push(o)
        describe(o)
      }
      const a = out.get('a'), b = out.get('b'), b2 = out.get('rps'), c = out.get('c'), d = out.get('direct')
      const base = b ?? c
      if (a) compareCases(report, LABEL.a, a, base)
      if (a && b2) compareCases(report, LABEL.a, a, b2)
      if (a && b && c) compareCases(report, LABEL.a, a, c)
      if (b && c) compareCases(report, LABEL.b, b, c)
      if (c) compareCases(report, LABEL.c, c, d)
      if (a && rate === 100_000)
        for (const [name, s] of Object.entries(a.ports ?? {})) report.add(`100 kpps: (a) afpacket port ${name} kernelDrops`, s.kernelDrops, 'frames')
      if (a && d && d.delivered > 0) {
        // (a)'s softirq outside its own threads: the kernel's AF_PACKET receive into the ring,
        // done in the generator's context. Estimated as (a)'s softirq minus the wan host's own
        // receive, which the direct wire measures per packet (and which (a) already counts,
        // in its transmitter thread's context).
        const hostRx = Math.max(0, d.cpu.softirq - d.cpu.backgroundSoftirq) / d.delivered
        const outside = Math.max(0, a.cpu.softirq - a.cpu.backgroundSoftirq - hostRx * a.delivered) / a.delivered
        note(`(a)'s softirq outside its threads (the kernel's AF_PACKET receive, in the generator's context), estimated: ${fmt(outside * 1e9, 0)} ns/packet; ` +
          `with it (a) is ${fmt(a.nsPerPacket + outside * 1e9, 0)} ns/packet${base ? `, ${fmt((a.nsPerPacket + outside * 1e9) / base.nsPerPacket)}x ${LABEL[base.kind]}` : ''}` +
          ` (the wan host's receive, in every case's figure: ${fmt(hostRx * 1e9, 0)} ns/packet)`)
      }
      if (a && !jsonMode())
        for (const peer of [base, b2])
          if (peer)
            console.log(
              `  => ${rateName(rate)}: (a) delivers ${fmt(a.delivered / peer.delivered)}x the packets/s of ${LABEL[peer.kind]} at ${fmt(a.nsPerPacket / peer.nsPerPacket)}x the CPU per packet`,
            )
    }

    // Each router at the offered rate where it delivered most: flat out is not every router's
    // best (one that is overrun can deliver less than at a lower rate).
    const best = (kind: CaseName) => all.filter((o) => o.kind === kind).sort((x, y) => y.delivered - x.delivered)[0] as Outcome | undefined
    const a = best('a')
    if (a && PLAN.length > 1) {
      report.section('Forwarding, each router at its best in this run (the offered rate where it delivered most)')
      for (const peer of [best('b'), best('rps'), best('c')]) {
        if (!peer) continue
        const at = (o: Outcome) => `${LABEL[o.kind]} at ${rateName(o.rate)}`
        report.compare(`best delivered, ${at(a)}`, a.delivered / 1e3, 'kpps', at(peer), peer.delivered / 1e3, 'higher')
        report.compare(`CPU per delivered packet there, ${LABEL.a}`, a.nsPerPacket, 'ns/packet', LABEL[peer.kind], peer.nsPerPacket, 'lower')
        if (!jsonMode())
          console.log(`  => at their best: (a) delivers ${fmt(a.delivered / peer.delivered)}x the packets/s of ${LABEL[peer.kind]} at ${fmt(a.nsPerPacket / peer.nsPerPacket)}x the CPU per packet`)
      }
    }
  } finally {
    tearDown()
    process.off('exit', onExit)
  }
}
