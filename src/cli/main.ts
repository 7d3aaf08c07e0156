// xio-chain: run, replay, validate and watch chains of network functions.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { loadChain, SpecError, type Chain } from '../chain/spec.ts'
import type { Problem } from '../chain/schema-check.ts'
import { ChainError, RunningChain } from '../chain/launcher.ts'
import { checkPcapFormat, PcapError } from '../chain/pcap.ts'
import { absentCpus } from '../chain/cpus.ts'
import { cleanStaleRegions, XioError, observe } from '../xio/index.ts'
import { isBurstTime } from '../xio/burst-times.ts'
import { groupLabels, processNames, statsLines } from './stats.ts'
import { ChainMetrics, parseListen, serveMetrics } from './metrics.ts'
import { captureCommand } from './capture.ts'
import { traceCommand } from './trace.ts'
import { LabError, labDown, labUp } from './lab.ts'
import { ScaffoldError, scaffoldNf } from './scaffold.ts'
import { NoChain, sendControl, serveControl, type ControlAnswer } from './control.ts'
import { describePlan, ReloadRefused } from '../chain/reload-plan.ts'
import { chainSource, describeExit, observedChain, observerSource } from '../tui/sources.ts'

/** `<endpoint>=<file>` pairs, each naming a pcap port of the chain. */
function pairs(values: string[] | undefined, flag: string, chain: Chain): Record<string, string> {
  const out: Record<string, string> = {}
  const pcapPorts = [...chain.endpoints.values()].filter((e) => e.kind === 'pcap').map((e) => e.name)
  for (const v of values ?? []) {
    const eq = v.indexOf('=')
    if (eq < 1 || eq === v.length - 1) throw new UsageError(`${flag} ${v}: expected <endpoint>=<file.pcap>`)
    const name = v.slice(0, eq)
    const endpoint = chain.endpoints.get(name)
    const ports = `its pcap ports: ${pcapPorts.join(', ') || 'none'}`
    if (!endpoint) throw new UsageError(`${flag} ${v}: chain '${chain.name}' has no endpoint '${name}' (${ports})`)
    if (endpoint.kind !== 'pcap') throw new UsageError(`${flag} ${v}: '${name}' is a ${endpoint.kind}, not a pcap port (${ports})`)
    out[name] = resolve(v.slice(eq + 1))
  }
  return out
}

/**
 * Every input capture the chain reads (the spec's, or one --input gives instead) exists and is a
 * capture xio-chain can read; one that is not is named by the field (or the flag) that gave it.
 */
function checkInputs(chain: Chain, inputs: Record<string, string> = {}): void {
  for (const e of chain.endpoints.values()) {
    const given = inputs[e.name]
    const input = given ?? (e.kind === 'pcap' ? (e.spec as { input?: string }).input : undefined)
    if (!input) continue
    try {
      checkPcapFormat(given ?? resolve(chain.dir, input))
    } catch (err) {
      if (!(err instanceof PcapError)) throw err
      if (given) throw new UsageError(`--input ${e.name}: ${err.message}`)
      throw new SpecError(chain.file, [{ path: `/endpoints/${e.name}/input`, message: err.message }])
    }
  }
}

class UsageError extends Error {}

/** What the spec allows but likely does not mean (a group of one, ARP let through a drop policy), said on stderr. */
function sayWarnings(spec: string, chain: Chain): void {
  for (const w of chain.warnings) process.stderr.write(`warning: ${spec}: ${w.path}: ${w.message}\n`)
}

/** CPUs the spec names that this machine lacks, as validate warns of them: the spec may be meant for another machine. */
function cpusAbsentHere(chain: Chain): Problem[] {
  return absentCpus(chain).map((w) => ({ path: w.path, message: `${w.message}: run refuses it on this machine` }))
}

/** A spec's problems as JSON gives them: the whole document's path is '/', as the text says it. */
function problemsOf(e: SpecError): Problem[] {
  return e.problems.map((p) => ({ path: p.path || '/', message: p.message }))
}

/**
 * `validate --json`: what validate says, as one JSON object on stdout (the file, whether it is
 * valid, every problem and warning by field), for an editor or a CI job; 1 if invalid.
 */
async function validateAsJson(spec: string): Promise<number> {
  const say = (verdict: object) => process.stdout.write(`${JSON.stringify({ file: spec, ...verdict }, null, 2)}\n`)
  try {
    const chain = await loadChain(spec)
    checkInputs(chain)
    const warnings = [...chain.warnings, ...cpusAbsentHere(chain)]
    say({ valid: true, name: chain.name, endpoints: chain.endpoints.size, links: chain.links.length, problems: [], warnings })
    return 0
  } catch (e) {
    if (!(e instanceof SpecError)) throw e
    say({ valid: false, problems: problemsOf(e), warnings: [] })
    return 1
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function run(spec: string, options: { duration?: number; tui: boolean; prefix?: string; maxRestarts: number; metrics?: string; input?: string[]; output?: string[] }) {
  const listen = options.metrics === undefined ? undefined : listenAt(options.metrics, '--metrics')
  const chain = await loadChain(spec)
  sayWarnings(spec, chain)
  const inputs = pairs(options.input, '--input', chain)
  const outputs = pairs(options.output, '--output', chain)
  checkInputs(chain, inputs)
  // Before start: a Ctrl-C while NFs come up must still stop them and remove the region.
  let stop = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (stop = true))
  // A reader that went away (`| head`, or `2>&1 | head` for the warnings) stops the chain as
  // Ctrl-C would, cleanly.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e
      stop = true
    })
  const dashboard = options.tui && process.stdout.isTTY === true
  // Loaded only for a terminal (ink and React take longer to load than the rest of the CLI), and
  // before the traffic starts: the ports run on this thread, and a load while they ran would
  // stall them and, under --duration, cut their time short.
  const dashboardModule = dashboard ? await import('../tui/dashboard.tsx') : undefined
  const running = await RunningChain.start(chain, { prefix: options.prefix, maxRestarts: options.maxRestarts, givingUp: 'leave down', portsOnManagerCpu: true, inputs, outputs })
  // Each reload, by `xio-chain reload` or SIGHUP, is said where the chain's output goes: on the
  // dashboard (stderr would tear its screen), or on stderr.
  const reloadAndSay = async (file: string) => {
    const answer = await reloadRunning(running, file)
    const said = answer.ok ? answer.changes.map((c) => `reload: ${c}`) : [`reload refused: ${answer.error}`]
    if (dashboard) running.emit('notice', said.join('; '))
    else process.stderr.write(`${said.join('\n')}\n`)
    return answer
  }
  const control = await serveControl(running.prefix, (request) => reloadAndSay(request.reload)).catch((e: Error) => {
    process.stderr.write(`warning: reloads cannot reach this chain: ${e.message}\n`)
    return undefined
  })
  const metricsServer = listen && (await serveMetrics(new ChainMetrics(() => running.manager.snapshot(), running.chain.groups), listen).catch(async (e: Error) => {
    await running.stop()
    throw new UsageError(`--metrics ${options.metrics}: ${e.message}`)
  }))
  // The dashboard shows NF exits itself and prints them when it closes; stderr would tear its screen.
  if (!dashboard) running.on('nf-exit', (e) => process.stderr.write(`${describeExit(e)}\n`))
  // SIGHUP, as daemons take it: read the spec file again and apply what changed.
  const specFile = resolve(spec)
  process.on('SIGHUP', () => void reloadAndSay(specFile))
  const pumping = running.pump()
  const started = Date.now()
  const deadline = options.duration === undefined ? Infinity : started + options.duration * 1000
  process.stdout.write(`chain '${chain.name}' running on prefix '${running.prefix}'; ${dashboard ? 'q' : 'Ctrl-C'} stops it\n`)
  try {
    if (dashboardModule && !stop) {
      const source = chainSource(running)
      await dashboardModule.showDashboard(source, { owns: true, durationMs: deadline === Infinity ? undefined : Math.max(0, deadline - Date.now()) })
      source.detach()
      for (const event of source.events) process.stderr.write(`${event}\n`)
    } else {
      let before = running.manager.snapshot()
      while (!stop && !running.failure && Date.now() < deadline) {
        await sleep(Math.min(1000, Math.max(10, deadline - Date.now())))
        const after = running.manager.snapshot()
        // The chain as it runs now: a reload may have brought a group.
        process.stdout.write(`-- ${((Date.now() - started) / 1000).toFixed(0)}s\n${statsLines(before, after, groupLabels(running.chain), processNames(running.chain)).join('\n')}\n`)
        before = after
      }
    }
  } finally {
    // However the watching ended (a dashboard that failed to load included): no process and no
    // region outlive the command.
    metricsServer?.close()
    control?.close()
    await running.stop()
    await pumping
  }
  if (running.failure) throw running.failure
  for (const [name, port] of running.ports) process.stdout.write(`${name}: ${JSON.stringify(port.stats())}\n`)
  // And each NF's own counters as its instances left them (what happened: its non-zero counts;
  // not its timings, which replay --json keeps apart).
  for (const name of running.chain.endpoints.keys()) {
    const all = running.finalNfCounters.get(name)
    if (!all) continue
    const counted = Object.entries(all).filter(([k, v]) => v !== 0 && !isBurstTime(k))
    if (counted.length) process.stdout.write(`${name}: ${JSON.stringify(Object.fromEntries(counted))}\n`)
  }
}

/** Applies the spec in `file` to the running chain: what changed, or why nothing did. */
async function reloadRunning(running: RunningChain, file: string): Promise<ControlAnswer> {
  try {
    const next = await loadChain(file)
    checkInputs(next)
    return { ok: true, changes: describePlan(await running.reload(next)) }
  } catch (e) {
    if (e instanceof ReloadRefused) return { ok: false, error: `${file}: ${e.message}` }
    if (e instanceof SpecError || e instanceof ChainError || e instanceof PcapError || e instanceof XioError) return { ok: false, error: e.message }
    throw e
  }
}

/** `xio-chain reload`: checks the spec here (as validate does), then has the running chain apply it. */
async function reload(spec: string, prefixOption?: string) {
  const chain = await loadChain(spec)
  checkInputs(chain)
  sayWarnings(spec, chain)
  const prefix = prefixOption ?? chain.prefix
  let answer: ControlAnswer
  try {
    answer = await sendControl(prefix, { reload: resolve(spec) })
  } catch (e) {
    if (e instanceof NoChain) throw new UsageError(e.message)
    throw e
  }
  // The chain names the file by the absolute path it was sent; the user wrote it as `spec`.
  if (!answer.ok) throw new UsageError(answer.error.split(resolve(spec)).join(spec))
  process.stdout.write(`${spec}: applied to the chain on prefix '${prefix}'\n${answer.changes.map((c) => `  ${c}`).join('\n')}\n`)
}

async function replay(spec: string, options: { input?: string[]; output?: string[]; json: boolean; prefix?: string }) {
  const chain = await loadChain(spec)
  sayWarnings(spec, chain)
  const inputs = pairs(options.input, '--input', chain)
  const outputs = pairs(options.output, '--output', chain)
  checkInputs(chain, inputs)
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (interrupted = true))
  const running = await RunningChain.start(chain, {
    prefix: options.prefix ?? `${chain.prefix}-replay-${process.pid}`,
    inputs,
    outputs,
    maxRestarts: 0,
    replay: true,
  })
  try {
    await running.replayInOrder(() => interrupted)
    const snapshot = running.manager.snapshot()
    await running.stop()
    // What the manager routed is counted per process: a placement group's, under the group,
    // beside the members' own NF counters (a group of one runs as its NF alone, counted so).
    const groupOf = new Map([...chain.groups].filter(([, members]) => members.length > 1).map(([group, members]) => [members[0], group]))
    const endpoints: Record<string, object> = {}
    const groups: Record<string, object> = {}
    for (const s of snapshot.slots.filter((x) => x.state === 'active')) {
      const group = groupOf.get(s.name)
      const e = (group === undefined
        ? (endpoints[s.name] ??= { rx: 0, tx: 0, dropped: 0, noRoute: 0 })
        : (groups[group] ??= { members: chain.groups.get(group), rx: 0, tx: 0, dropped: 0, noRoute: 0 })) as Record<string, number>
      e.rx += s.route.rxPackets
      e.tx += s.route.txPackets
      e.dropped += s.route.dropped
      e.noRoute += s.route.noRoute
    }
    for (const [name, port] of running.ports) Object.assign(endpoints[name] ?? {}, port.stats())
    // Its counts, which a replay makes the same every run, apart from how long it took.
    for (const [name, all] of running.finalNfCounters) {
      const counters: Record<string, number> = {}, timing: Record<string, number> = {}
      for (const [k, v] of Object.entries(all)) (isBurstTime(k) ? timing : counters)[k] = v
      Object.assign((endpoints[name] ??= {}), { counters, ...(Object.keys(timing).length ? { timing } : {}) })
    }
    if (options.json) process.stdout.write(JSON.stringify({ chain: chain.name, endpoints, ...(groupOf.size ? { groups } : {}) }, null, 2) + '\n')
    else {
      const labels = groupLabels(chain)
      for (const e of Object.values(groups)) {
        const { members, ...routed } = e as { members: string[] }
        process.stdout.write(`${labels.get(members[0])!.padEnd(12)} ${JSON.stringify(routed)}\n`)
      }
      for (const [name, e] of Object.entries(endpoints)) process.stdout.write(`${name.padEnd(12)} ${JSON.stringify(e)}\n`)
    }
  } catch (e) {
    await running.stop()
    throw e
  }
}

async function top(prefix: string) {
  const observer = observe(prefix)
  try {
    if (process.stdout.isTTY) {
      const { showDashboard } = await import('../tui/dashboard.tsx')
      const end = await showDashboard(await observerSource(observer), { owns: false })
      if (end.reason === 'gone') process.stdout.write(`${end.message}\n`)
      return
    }
    let stop = false
    process.on('SIGINT', () => (stop = true))
    // A placement group's row bears the group's name, as in `run`'s lines, when the spec is known.
    const chain = await observedChain(observer)
    const labels = chain ? groupLabels(chain) : undefined
    const processes = chain ? processNames(chain) : undefined
    let before = observer.view.snapshot()
    while (!stop) {
      await sleep(1000)
      if (!observer.managerAlive()) {
        process.stdout.write(`the chain on prefix '${prefix}' has stopped\n`)
        break
      }
      const after = observer.view.snapshot()
      process.stdout.write(`-- ${new Date().toISOString()}\n${statsLines(before, after, labels, processes).join('\n')}\n`)
      before = after
    }
  } finally {
    observer.close()
  }
}

/**
 * A numeric option read as typed, so a refusal can say what was typed (yargs' own numbers turn
 * `-c abc` into NaN): the number, which the command checks further, or a one-line refusal.
 */
function numberOption(flag: string): (text: string) => number {
  return (text) => {
    const n = Number(text)
    if (String(text).trim() === '' || Number.isNaN(n)) throw new UsageError(`${flag} ${text}: expected a number`)
    return n
  }
}

function listenAt(text: string, flag: string): { host: string; port: number } {
  const listen = parseListen(text)
  if (!listen) throw new UsageError(`${flag} ${text}: expected [host:]port, e.g. 9464 or 0.0.0.0:9464`)
  return listen
}

/** One snapshot of a running chain: JSON, or the Prometheus text `metrics` would serve. */
async function stats(prefix: string, json: boolean) {
  const observer = observe(prefix)
  try {
    const metrics = new ChainMetrics(() => observer.view.snapshot(), (await observedChain(observer))?.groups)
    process.stdout.write(json ? `${JSON.stringify({ prefix, metrics: await metrics.json() }, null, 2)}\n` : await metrics.text())
  } finally {
    observer.close()
  }
}

async function metrics(prefix: string, listenText: string) {
  const listen = listenAt(listenText, '--listen')
  const observer = observe(prefix)
  let server
  try {
    server = await serveMetrics(new ChainMetrics(() => observer.view.snapshot(), (await observedChain(observer))?.groups), listen)
  } catch (e) {
    observer.close()
    throw new UsageError(`--listen ${listenText}: ${(e as Error).message}`)
  }
  process.stdout.write(`serving the chain on prefix '${prefix}' at http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}/metrics; Ctrl-C stops\n`)
  let stop = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (stop = true))
  while (!stop && observer.managerAlive()) await sleep(200)
  if (!stop) process.stdout.write(`the chain on prefix '${prefix}' has stopped\n`)
  server.close()
  observer.close()
}

const cli = yargs(hideBin(process.argv))
  .scriptName('xio-chain')
  .usage('$0 <command>\n\nRun chains of network functions on a zero-copy shared-memory data plane.')
  .command(
    'run <spec>',
    'Run a chain until Ctrl-C (or --duration), with live stats',
    (y) =>
      y
        .positional('spec', { type: 'string', demandOption: true, describe: 'chain spec (JSON)' })
        .option('duration', { type: 'string', describe: 'stop after this many seconds' })
        .check((a) => {
          if (a.duration !== undefined && !(Number(a.duration) > 0)) throw new UsageError(`--duration ${a.duration}: expected a number of seconds above 0`)
          return true
        })
        .option('tui', { type: 'boolean', default: true, describe: 'dashboard on a terminal (--no-tui: plain stats lines)' })
        .option('prefix', { type: 'string', describe: 'shared data prefix (default: from the spec)' })
        .option('max-restarts', { type: 'string', default: '5', coerce: numberOption('--max-restarts'), describe: 'restarts of one NF instance within a minute before it is left down (the rest of the chain runs on; a reload starts it again)' })
        .option('metrics', { type: 'string', describe: 'serve Prometheus metrics at http://[host:]port/metrics (host default 127.0.0.1)' })
        .option('input', { type: 'string', array: true, describe: '<endpoint>=<file.pcap> to read instead of the spec\'s (repeatable)' })
        .option('output', { type: 'string', array: true, describe: '<endpoint>=<file.pcap> to write instead of the spec\'s (repeatable)' })
        .example('$0 run chains/fw-nat.json', 'replay the bundled captures through firewall and NAT')
        .example('$0 run chains/l2fwd.json --duration 10 --no-tui', 'ten seconds, stats as plain lines'),
    (a) => run(a.spec, { duration: a.duration === undefined ? undefined : Number(a.duration), tui: a.tui, prefix: a.prefix, maxRestarts: a.maxRestarts, metrics: a.metrics, input: a.input, output: a.output }),
  )
  .command(
    'replay <spec>',
    'Run a chain over captures until every packet is through, write the outputs, print counters',
    (y) =>
      y
        .positional('spec', { type: 'string', demandOption: true })
        .option('input', { type: 'string', array: true, describe: '<endpoint>=<file.pcap> to read (repeatable)' })
        .option('output', { type: 'string', array: true, describe: '<endpoint>=<file.pcap> to write (repeatable)' })
        .option('json', { type: 'boolean', default: false, describe: 'counters as JSON' })
        .option('prefix', { type: 'string', describe: 'shared data prefix (default: <spec prefix>-replay-<pid>, so a replay never meets a running chain)' })
        .example('$0 replay chains/fw-nat.json --output wan=/tmp/wan.pcap --json', 'what the NAT sent out, and every counter'),
    async (a) => {
      try {
        await replay(a.spec, { input: a.input, output: a.output, json: a.json, prefix: a.prefix })
      } catch (e) {
        // A reader of --json gets JSON either way: the refusal too, as stderr says it.
        if (a.json && e instanceof Error) {
          const problems = e instanceof SpecError ? { problems: problemsOf(e) } : {}
          process.stdout.write(`${JSON.stringify({ file: a.spec, error: said(e.message), ...problems }, null, 2)}\n`)
        }
        throw e
      }
    },
  )
  .command(
    'validate <spec>',
    'Check a chain spec: exit 0 if valid, else every error with its field',
    (y) =>
      y
        .positional('spec', { type: 'string', demandOption: true })
        .option('json', { type: 'boolean', default: false, describe: 'the verdict as JSON on stdout: valid, and every problem and warning with its field (exit 1 if invalid)' })
        .example('$0 validate chains/fw-nat.json', '')
        .example('$0 validate chains/fw-nat.json --json', 'for an editor or a CI job'),
    async (a) => {
      if (a.json) {
        process.exitCode = await validateAsJson(a.spec)
        return
      }
      const chain = await loadChain(a.spec)
      checkInputs(chain)
      sayWarnings(a.spec, chain)
      for (const w of cpusAbsentHere(chain)) process.stderr.write(`warning: ${a.spec}: ${w.path}: ${w.message}\n`)
      process.stdout.write(`${a.spec}: valid chain '${chain.name}' (${chain.endpoints.size} endpoints, ${chain.links.length} links)\n`)
    },
  )
  .command(
    'reload <spec>',
    'Apply a changed spec to a running chain without stopping it (or send SIGHUP to its run)',
    (y) =>
      y
        .positional('spec', { type: 'string', demandOption: true, describe: 'the chain spec as it should be now' })
        .option('prefix', { type: 'string', describe: 'the running chain\'s prefix (default: from the spec)' })
        .example('$0 reload chains/fw-nat.json', 'new firewall rules and NAT forwards, live; connections and mappings kept'),
    (a) => reload(a.spec, a.prefix),
  )
  .command(
    'top',
    'Watch a running chain from another terminal (read-only)',
    (y) => y.option('prefix', { type: 'string', demandOption: true, describe: 'the running chain\'s prefix' }).example('$0 top --prefix fw-nat', ''),
    (a) => top(a.prefix),
  )
  .command(
    'stats',
    'Print a running chain\'s counters once (read-only)',
    (y) =>
      y
        .option('prefix', { type: 'string', demandOption: true, describe: 'the running chain\'s prefix' })
        .option('json', { type: 'boolean', default: false, describe: 'every counter as JSON: the Prometheus families, each with its samples and labels (else: Prometheus text)' })
        .example('$0 stats --prefix fw-nat --json', ''),
    (a) => stats(a.prefix, a.json),
  )
  .command(
    'metrics',
    'Serve a running chain\'s counters to Prometheus (read-only) until Ctrl-C',
    (y) =>
      y
        .option('prefix', { type: 'string', demandOption: true, describe: 'the running chain\'s prefix' })
        .option('listen', { type: 'string', demandOption: true, describe: '[host:]port to serve /metrics on (host default 127.0.0.1)' })
        .example('$0 metrics --prefix fw-nat --listen 9464', 'scrape http://127.0.0.1:9464/metrics'),
    (a) => metrics(a.prefix, a.listen),
  )
  .command(
    'capture',
    'Copy the packets seen at endpoints of a running chain into pcap (a file, or - for tcpdump/Wireshark)',
    (y) =>
      y
        .option('prefix', { type: 'string', demandOption: true, describe: 'the running chain\'s prefix' })
        .option('at', { type: 'string', array: true, demandOption: true, describe: 'where: <endpoint>.rx (what it receives), .tx (all it sends), .<gate>, \'<from>-><to>\', or <group>.rx / .tx (what enters / leaves a placement group) (repeatable)' })
        .option('count', { alias: 'c', type: 'string', coerce: numberOption('-c'), describe: 'stop after writing this many packets' })
        .option('filter', { type: 'string', describe: 'keep only what matches firewall rule fields: "tcp and dst 10.0.0.0/8 and dstPort 80", "udp port 53 or icmp", or JSON rule fields' })
        .option('write', { alias: 'w', type: 'string', demandOption: true, describe: 'pcap file to write, or - for standard output' })
        .example('$0 capture --prefix fw-nat --at fw.out -w - | tcpdump -nr -', 'what the firewall passes, live')
        .example('$0 capture --prefix fw-nat --at nat.rx -c 100 --filter "udp port 53" -w dns.pcap', 'a hundred DNS packets reaching the NAT'),
    async (a) => {
      process.exitCode = await captureCommand({ prefix: a.prefix, at: a.at, count: a.count, filter: a.filter, write: a.write })
    },
  )
  .command(
    'trace',
    'Follow the next packets that enter a running chain, hop by hop: where each went, what each NF did and why',
    (y) =>
      y
        .option('prefix', { type: 'string', demandOption: true, describe: 'the running chain\'s prefix' })
        .option('count', { alias: 'c', type: 'string', default: '10', coerce: numberOption('-c'), describe: 'how many packets to follow' })
        .option('json', { type: 'boolean', default: false, describe: 'the hops as JSON' })
        .option('quiet', { type: 'string', default: '1', coerce: numberOption('--quiet'), describe: 'end after this many seconds without a hop (longer for NFs that hold packets: a router waits up to 3 s for ARP)' })
        .example('$0 trace --prefix fw-nat -c 20', 'the next twenty packets, through the firewall and the NAT'),
    async (a) => {
      process.exitCode = await traceCommand({ prefix: a.prefix, count: a.count, json: a.json, quiet: a.quiet })
    },
  )
  .command(
    'clean',
    'Remove what chains killed with kill -9 left in /dev/shm (running chains are left alone)',
    (y) => y.example('$0 clean', ''),
    () => {
      const r = cleanStaleRegions()
      for (const file of r.removed) process.stdout.write(`removed ${file} (its chain is gone)\n`)
      if (!r.removed.length) process.stdout.write(`nothing to clean${r.inUse.length ? ` (${r.inUse.length} region(s) of running chains left alone)` : ''}\n`)
      for (const f of r.failed) process.stderr.write(`${f.file}: ${f.message}\n`)
      if (r.failed.length) process.exitCode = 1
    },
  )
  .command(
    'lab <action>',
    'Make (up) or remove (down) the lab: namespaces lan and wan, joined to the root namespace by veths xl-lan and xl-wan',
    (y) =>
      y
        .positional('action', { choices: ['up', 'down'] as const, demandOption: true })
        .example('$0 lab up && $0 run chains/lab-fw-nat.json', 'the chain as the router between lan and wan')
        .example('ip netns exec lan curl http://203.0.113.2:8000/', 'a request from lan, through the chain'),
    (a) => {
      if (a.action === 'up') {
        for (const side of labUp())
          process.stdout.write(`namespace ${side.namespace}: eth0 ${side.host}/${side.prefix}${side.gateway ? ` via ${side.gateway}` : ''}; chain side: ${side.interface}\n`)
      } else {
        const removed = labDown()
        process.stdout.write(removed.length ? `removed ${removed.join(', ')}\n` : 'no lab to remove\n')
      }
    },
  )
  .command(
    'new <what> <name>',
    'Start an NF of your own: its module, its config schema, a test through the harness, and a chain that runs it',
    (y) =>
      y
        .positional('what', { choices: ['nf'] as const, demandOption: true })
        .positional('name', { type: 'string', demandOption: true, describe: 'the NF\'s name (lowercase, digits, -)' })
        .option('dir', { type: 'string', describe: 'folder for its files (default: ./<name>)' })
        .example('$0 new nf ttl-guard', 'writes ttl-guard/ttl-guard.ts, ttl-guard.schema.json, ttl-guard.test.ts and chain.json'),
    (a) => {
      const { files, note } = scaffoldNf(a.name, a.dir ?? a.name)
      process.stdout.write(`${files.map((f) => `wrote ${f}`).join('\n')}\n${note ? `note: ${note}\n` : ''}` +
        // This xio-chain's own folder (a checkout, or where it was installed): the package is not
        // on the npm registry, so `npm install xio-chain` would find nothing.
        `next, in ${a.dir ?? a.name}: npm install ${resolve(fileURLToPath(new URL('../../', import.meta.url)))} and npm install --save-dev tsx (if the project lacks them), ` +
        `node --import tsx --test ${a.name}.test.ts, npx xio-chain run chain.json\n`)
    },
  )
  .demandCommand(1, 'name a command: run, reload, replay, validate, top, capture, trace, stats, metrics, clean, lab or new')
  .epilog(
    'A chain spec is JSON: endpoints (NFs and ports) and links between them, checked against chains/chain.schema.json ' +
      '(point "$schema" at it for editor completion). The bundled chains in chains/ are examples; the README explains each.',
  )
  .strict()
  .help()
  .fail((message, error) => {
    // yargs' own errors are the user's mistakes (an option's refusal comes wrapped in one); any
    // other is the command's, said by the catch below.
    if (error && error.name !== 'YError') throw error
    message ||= error?.message ?? ''
    // One line: what was wrong, and where the usage is.
    // yargs puts some messages on several indented lines ("Invalid values:\n  Argument: ..."): as one sentence.
    const sentence = message.split('\n').map((line) => line.trim()).filter(Boolean).join(' ')
    process.stderr.write(`xio-chain: ${sentence} (xio-chain --help shows the usage)\n`)
    process.exit(1)
  })

/** The command being run, for the errors that name no file. */
let command = ''
cli.middleware((argv) => {
  command = String(argv._[0] ?? '')
})

/**
 * A refusal as one says it: one that starts with the file it is about (a spec, a capture, a
 * module: `chains/x.json: /endpoints/fw/kind: …`) as it is, so an editor can jump there; any
 * other after the command that said it (`xio-chain stats: no xio region …`).
 */
function said(message: string): string {
  if (message.startsWith('xio-chain') || /^[^\s:]*[./][^\s:]*: /.test(message)) return message
  return `xio-chain${command ? ` ${command}` : ''}: ${message}`
}

try {
  await cli.parseAsync()
} catch (e) {
  if (e instanceof SpecError || e instanceof XioError || e instanceof ChainError || e instanceof PcapError || e instanceof UsageError || e instanceof LabError || e instanceof ScaffoldError) {
    process.stderr.write(`${said(e.message)}\n`)
    process.exit(1)
  }
  throw e
}
