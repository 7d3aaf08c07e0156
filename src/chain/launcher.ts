// The launcher: runs a chain. It creates the region, declares every endpoint, wires the
// routes from the spec's links, starts the manager thread, starts each NF instance as its own
// process (attached by prefix), attaches the ports here, and pumps them. It restarts an NF
// that dies, gives up on one that dies too often (left down, or the chain stopped), applies a
// reload's new spec to the running chain (reload.ts), and on stop drains what is in flight,
// flushes the outputs, stops every process and removes the region.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { cpus } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { attach, countersByEndpoint, layout, Manager, RxWaiter, setAffinity, type Xio } from '../xio/index.ts'
import { removeStateSegments } from '../xio/state.ts'
import { addon } from '../xio/native.ts'
import { absentCpu } from './cpus.ts'
import { nfCpuList, nfLabel, processMembers, recheckChain, SpecError, startsProcess, type Chain } from './spec.ts'
import { moduleVersion } from './module-version.ts'
import { ChainError } from './chain-error.ts'
import { LAUNCHER_PID_ENV, parseReconfigured, type NfReconfigured } from './nf-control.ts'
import { ChainReloader } from './reload.ts'
import type { ReloadPlan } from './reload-plan.ts'
import type { AfPacketPort as AfPacketSpec, GeneratorPort as GeneratorSpec, PcapPort as PcapSpec } from './spec-types.ts'
import { LINKTYPE_ETHERNET, readPcap } from './pcap.ts'
import type { Port } from './ports/port.ts'
import { PcapPort } from './ports/pcap.ts'
import { SinkPort } from './ports/sink.ts'
import { GeneratorPort } from './ports/generator.ts'
import { AfPacketPort } from './ports/afpacket.ts'

// Compiled (dist/, as installed) NF processes run as plain JavaScript; from the TypeScript
// sources (a checkout) they run through tsx.
const compiled = import.meta.url.endsWith('.js')
const nfProcessScript = fileURLToPath(new URL(compiled ? './nf-process.js' : './nf-process.ts', import.meta.url))
// tsx as this install resolves it, not as the working folder would: a chain runs from anywhere.
const nodeArgs = compiled ? [] : ['--import', import.meta.resolve('tsx')]
/** How long the launcher waits before it restarts an NF that exited: a crash loop does not spin. */
export const RESTART_PAUSE_MS = 200
/** The window --max-restarts counts an NF instance's exits in. */
export const RESTART_WINDOW_MS = 60_000
// How often the code of an NF whose changed module was refused is looked at again.
const CHANGED_CODE_RETRY_MS = 1000

export interface LaunchOptions {
  /** Overrides the spec's (or the file name's) prefix. */
  prefix?: string
  /** Endpoint → capture to read instead of the spec's input. */
  inputs?: Record<string, string>
  /** Endpoint → capture to write instead of the spec's output. */
  outputs?: Record<string, string>
  /** Restarts of one NF instance allowed within RESTART_WINDOW_MS before the launcher gives up on it (default 5). */
  maxRestarts?: number
  /**
   * What giving up on an NF means: the chain stops (the default; a replay, whose output must be
   * whole), or the NF is left down and the rest of the chain runs on (`run`), until a reload.
   */
  givingUp?: 'stop' | 'leave down'
  /** Every capture once, at top speed, whatever the spec says (for replayInOrder). */
  replay?: boolean
  /** Where notices go that do not stop the chain (default: stderr). */
  warn?: (message: string) => void
  /**
   * Pins this process (its JS thread, which pumps the ports) to the manager's CPU, as `run`
   * does. The ports and the manager both poll lightly and hand the CPU over when they wait, so
   * they share it well; left to float, the port pumping lands beside the NFs, on the CPUs kept
   * for them, as often as not (on 2 vCPUs: a third poller on the NFs' one).
   */
  portsOnManagerCpu?: boolean
  /**
   * The longest the port pump rests with nothing due (default 1000 ms). Packets reaching a
   * port, a port coming due and stop() all end a rest; this bounds what a port whose
   * nextPumpMs is wrong would wait. Tests set it long, so that nothing can lean on it.
   */
  maxRestMs?: number
}

/**
 * What an NF process runs (sent on its stdin): its NF, or a placement group's NFs, the first
 * being the endpoint it attaches as.
 */
export interface NfOrder {
  members: NfMemberOrder[]
  /** How many instances of the endpoint (a group's) the chain runs: NFEnv.placement. */
  instances: number
}

/** One NF of a process: a built-in's kind or a module's file, its config, and where its gates lead. */
export interface NfMemberOrder {
  name: string
  kind: string
  module?: string
  config: unknown
  /** What messages call it (nfLabel). */
  label: string
  /** By gate: the member (index) it leads to in the same process, or -1 (through the manager). */
  next: number[]
}

export interface NfInstanceProcess {
  /** The endpoint it attaches as: its NF's, or its group's first member's. */
  endpoint: string
  /** The endpoints whose NFs it runs: its own, or its group's. */
  members: string[]
  /** Which instance of the endpoint (0 to instances - 1), the same across its restarts. */
  instance: number
  child: ChildProcess
  /** When this instance (this process and those it replaced) exited, within RESTART_WINDOW_MS. */
  exits: number[]
  /** Given up on after too many exits in the window: not restarted until a reload starts it. */
  leftDown?: boolean
  stderr: string
  /** It said `ready`: attached, and its NF accepted the config. */
  ready: boolean
  /** Stopped on purpose (a reload removed it): not restarted when it exits. */
  retired: boolean
  /** Reloads' configs sent to it and not yet answered, by seq. */
  awaiting: Map<number, (answer: NfReconfigured | null) => void>
  /** Why the launcher killed it as hung (took no packet for HUNG_AFTER_MS), if it did. */
  hung?: string
}

/**
 * An NF process that decides no packet for this long while packets wait on its RX ring and its
 * TX ring has room (so it is not waiting on what is downstream) is hung: its process() in a loop
 * that never ends, say. Its packets, and those its senders hold for it, would wait for ever,
 * the senders' packets for other NFs behind them; it is killed and restarted as after a crash.
 * Progress is the runner's count of packets decided, one by one: a slow NF (a second a packet)
 * or one deciding packets it parked in its process, its RX ring untouched meanwhile, makes it.
 */
export const HUNG_AFTER_MS = 5000

export { ChainError }

/** Events: 'nf-exit' ({ endpoint, name, pid, code, signal, restarting, hung }), 'fatal' (ChainError), 'notice' (a line for the dashboard). */
export class RunningChain extends EventEmitter {
  readonly ports = new Map<string, Port>()
  readonly instances: NfInstanceProcess[] = []
  /** Each NF endpoint's counters as its instances left them, summed over them; filled by stop(). */
  readonly finalNfCounters = new Map<string, Record<string, number>>()
  private stopping = false
  /** The CPU this process is pinned to (LaunchOptions.portsOnManagerCpu), or null. */
  private pinnedTo: number | null = null
  /** stop() has begun: NFs that exit from now on are not restarted. */
  private closing = false
  private pumping: Promise<void> | null = null
  /** What the pump rests on: packets reaching its ports. */
  private readonly rxWaiter = new RxWaiter()
  private fatal: ChainError | null = null
  /** Looks for hung NF processes once a second; by slot, the RX progress it last saw there. */
  private watchdog: NodeJS.Timeout | null = null
  private readonly progress = new Map<number, { pid: number; decided: number; since: number }>()

  private readonly reloader: ChainReloader

  /** The chain as it runs now: the spec it started with, or its last reload's. */
  chain: Chain

  private constructor(chain: Chain, readonly manager: Manager, private readonly options: LaunchOptions) {
    super()
    this.chain = chain
    this.reloader = new ChainReloader({
      manager,
      instances: this.instances,
      ports: this.ports,
      chain: () => this.chain,
      runSpec: (next) => {
        this.chain = next
        // Observers (top, stats, metrics, trace) read names from the spec the region records.
        manager.recordChainFile(resolve(next.file))
      },
      closing: () => this.closing,
      startNfs: (managerCpu, only, first) => this.startNfs(managerCpu, only, first),
      startLeftDown: (managerCpu, only) => this.startLeftDown(managerCpu, only),
      attachPorts: (only, continued) => this.attachPorts(only, continued),
      warn: (message) => this.warn(message),
    })
  }

  get prefix(): string {
    return this.manager.prefix
  }

  private warn(message: string): void {
    if (this.options.warn) this.options.warn(message)
    else process.stderr.write(`warning: ${message}\n`)
  }

  static async start(chain: Chain, options: LaunchOptions = {}): Promise<RunningChain> {
    const spec = chain.spec
    // Every CPU named is checked before anything starts, so a mistake leaves nothing behind (a
    // reload checks its spec so before anything stops).
    const absent = absentCpu(chain)
    if (absent) throw new ChainError(`${chain.file}: ${absent.path}: ${absent.message}`)
    const slots = [...chain.endpoints.values()].reduce((n, e) => n + e.instances, 0)
    const manager = Manager.create({
      prefix: options.prefix ?? chain.prefix,
      slots: Math.min(64, slots + 8 + layout.capture.maxCaptures),  // room for restarts, observers' own endpoints and captures
      buffers: spec.pool?.buffers,
      bufferSize: spec.pool?.bufferSize,
      ringSize: spec.pool?.ringSize,
      chainFile: resolve(chain.file),
    })
    removeStateSegments(manager.prefix)  // the prefix is ours now: a fresh chain's NFs start with fresh state
    const running = new RunningChain(chain, manager, options)
    try {
      for (const name of chain.endpoints.keys()) manager.declare(name)
      for (const l of chain.links) manager.route(l.from, l.gateIndex, l.to)
      const managerCpu = spec.manager?.cpu ?? 0
      const pinned = managerCpu < cpus().length
      manager.start({ cpu: pinned ? managerCpu : undefined, burst: spec.manager?.burst, spinUs: spec.manager?.spinUs })
      // Every thread of this process, the manager's included (already on that CPU).
      if (options.portsOnManagerCpu && pinned && cpus().length > 1) {
        setAffinity([managerCpu])
        running.pinnedTo = managerCpu
      }
      await running.startNfs(managerCpu)
      await running.attachPorts()
      running.watchdog = setInterval(() => running.killHung(), 1000).unref()
    } catch (e) {
      await running.stop()
      throw e
    }
    return running
  }

  // NFs go on every CPU but the manager's, where there is more than one.
  private nfCpus(managerCpu: number, override?: number[]): string {
    if (override) return override.join(',')
    const all = cpus().map((_, i) => i)
    return (all.length > 1 ? all.filter((c) => c !== managerCpu) : all).join(',')
  }

  /**
   * Starts the NF processes of the chain (of the endpoints `only` picks, from instance
   * `first(name)` on), one per instance of each NF or placement group, and waits until each is
   * ready.
   */
  private async startNfs(managerCpu: number, only?: (name: string) => boolean, first: (name: string) => number = () => 0) {
    // A group starts with its first member (the others are started with it).
    const starting = [...this.chain.endpoints.values()].filter((e) => startsProcess(this.chain, e) && (!only || only(e.name)))
    const started: NfInstanceProcess[] = []
    for (const e of starting) {
      const cpu = this.nfCpus(managerCpu, nfCpuList(this.chain, e)?.cpu)
      for (let i = first(e.name); i < e.instances; i++) started.push(this.spawnNf(e.name, i, cpu, []))
    }
    this.instances.push(...started)
    const deadline = Date.now() + 20_000
    while (!started.every((p) => p.ready)) {
      if (this.fatal) throw this.fatal
      const failed = started.find((p) => p.child.exitCode !== null || p.child.signalCode !== null)
      if (failed) {
        if (!failed.child.stderr!.readableEnded) await once(failed.child.stderr!, 'end')
        throw new ChainError(`NF '${failed.endpoint}' exited with status ${failed.child.exitCode ?? failed.child.signalCode} while starting:\n${failed.stderr.trim()}`)
      }
      if (Date.now() > deadline) throw new ChainError(`NFs did not start within 20 s: ${started.filter((p) => !p.ready).map((p) => p.endpoint).join(', ')}`)
      await sleep(20)
    }
  }

  private spawnNf(endpoint: string, instance: number, cpu: string, exits: number[]): NfInstanceProcess {
    // A replay runs NFs on the captures' time, so it gives the same output however long it takes.
    const clock = this.options.replay ? 'packets' : 'wall'
    const child = this.unpinned(() =>
      spawn(process.execPath, [...nodeArgs, nfProcessScript, this.chain.file, endpoint, this.prefix, cpu, clock, String(instance)], {
        stdio: ['pipe', 'pipe', 'pipe'],
        // A session of its own: a Ctrl-C at the terminal reaches the launcher alone, which drains
        // the chain and then stops its NFs; one still loading its modules would otherwise die of
        // it before it could ignore it, and the chain would report a failed start.
        detached: true,
        // Whose death ends it (nf-process.ts): a launcher killed with -9 leaves no NF behind.
        env: { ...process.env, [LAUNCHER_PID_ENV]: String(process.pid) },
      }),
    )
    // Its NFs and configs, as checked here: the process need not read and check the spec again
    // (compiling the chain schema alone took a restart 140 ms).
    const order = this.orderOf(endpoint)
    child.stdin!.on('error', () => {})  // a process that died at once; its exit says why
    // One line; stdin stays open for reloads' configs (nf-control.ts).
    child.stdin!.write(`${JSON.stringify(order)}\n`)
    const members = order.members.map((m) => m.name)
    const proc: NfInstanceProcess = { endpoint, members, instance, child, exits, stderr: '', ready: false, retired: false, awaiting: new Map() }
    let said = ''
    child.stdout!.on('data', (c: Buffer) => {
      const lines = (said + c.toString()).split('\n')
      said = lines.pop()!
      for (const line of lines) {
        if (line === 'ready') proc.ready = true
        const answer = parseReconfigured(line)
        if (answer) proc.awaiting.get(answer.seq)?.(answer)
      }
    })
    let partial = ''
    child.stderr!.on('data', (c: Buffer) => {
      const text = c.toString()
      proc.stderr = (proc.stderr + text).slice(-4000)
      // Once running, what an NF says (its faults: src/xio/nf-faults.ts) is passed on as it comes;
      // before, it is the cause of a failed start, reported with it.
      if (!proc.ready) return
      const lines = (partial + text).split('\n')
      partial = lines.pop()!
      for (const line of lines) if (line) this.warn(line)
    })
    child.on('exit', (code, signal) => this.onNfExit(proc, cpu, code, signal))
    return proc
  }

  /**
   * Runs `start` (a spawn) with this process on every CPU. A child inherits its parent's CPUs
   * until it sets its own, which an NF process does only once its modules are loaded: most of
   * its start (~0.5 s of CPU), which would otherwise crowd the manager's CPU and slow a restart.
   */
  private unpinned<T>(start: () => T): T {
    if (this.pinnedTo === null) return start()
    setAffinity(cpus().map((_, i) => i))
    try {
      return start()
    } finally {
      setAffinity([this.pinnedTo])  // the manager's thread with the rest: it belongs there too
    }
  }

  /** What the process attached as `endpoint` runs: its NF, or its group's, with where their gates lead. */
  private orderOf(endpoint: string): NfOrder {
    const names = processMembers(this.chain, this.chain.endpoints.get(endpoint)!)
    return {
      members: names.map((name) => {
        const m = this.chain.endpoints.get(name)!
        const next = m.gates.map((_, gate) => names.indexOf(this.chain.links.find((l) => l.from === name && l.gateIndex === gate)?.to ?? ''))
        return { name, kind: m.kind, module: m.moduleFile, config: (m.spec as { config?: unknown }).config ?? {}, label: nfLabel(m), next }
      }),
      instances: this.chain.endpoints.get(endpoint)!.instances,
    }
  }

  /** Kills NF processes hung for HUNG_AFTER_MS (their exit then restarts them), saying why. */
  private killHung(): void {
    if (this.closing) return
    const now = performance.now()
    const region = this.manager.region
    // Which process serves a slot, by what the manager serves it as: the endpoint id and the
    // instance number each process was started with (the manager gives a number to one slot at
    // a time). Never by the pid in the slot, which its endpoint writes: a faulty NF could name
    // another's process there, and have it killed for its own hang.
    const key = (service: number, instance: number) => service * 65536 + instance
    const byIdentity = new Map(this.instances.map((p) => [key(region.serviceId(p.endpoint), p.instance), p]))
    for (let slot = 0; slot < region.slotCount; slot++) {
      // A few words a slot, once a second: an idle chain's launcher wakes for little more.
      const s = region.progress(slot)
      const proc = s.active ? byIdentity.get(key(s.service, s.instance)) : undefined
      if (!proc || !proc.ready || proc.hung || proc.retired) continue
      const pid = proc.child.pid ?? -1
      const seen = this.progress.get(slot)
      if (!seen || seen.pid !== pid || seen.decided !== s.decided || s.waiting === 0 || s.txFull) {
        this.progress.set(slot, { pid, decided: s.decided, since: now })
      } else if (now - seen.since >= HUNG_AFTER_MS) {
        proc.hung = `hung: decided none of the ${s.waiting} packets waiting for it in ${HUNG_AFTER_MS / 1000} s; killed it`
        proc.child.kill('SIGKILL')
      }
    }
  }

  /** What a process of `endpoint` is called in messages: NF 'fw', or placement group 'edge' (fw+nat). */
  private processName(endpoint: string): string {
    const e = this.chain.endpoints.get(endpoint)
    const group = e?.group
    return group ? `placement group '${group}' (${processMembers(this.chain, e).join('+')})` : `NF '${endpoint}'`
  }

  private onNfExit(proc: NfInstanceProcess, cpu: string, code: number | null, signal: NodeJS.Signals | null) {
    // A reload waiting for its answer: the restarted process starts on the chain's new config.
    for (const answered of proc.awaiting.values()) answered(null)
    if (this.closing || proc.retired) return
    const limit = this.options.maxRestarts ?? 5
    // Exits in the window: an NF that fails now and then is restarted for as long as the chain
    // runs; one in a crash loop is given up on.
    const now = performance.now()
    proc.exits = [...proc.exits.filter((t) => now - t < RESTART_WINDOW_MS), now]
    const restarting = proc.exits.length <= limit
    const name = this.processName(proc.endpoint)
    this.emit('nf-exit', { endpoint: proc.endpoint, name, pid: proc.child.pid, code, signal, restarting, hung: proc.hung, stderr: proc.stderr })
    if (!restarting) {
      const times = `${proc.exits.length} time${proc.exits.length === 1 ? '' : 's'}${limit ? ` in ${RESTART_WINDOW_MS / 1000} s` : ''}`
      const last = proc.hung ?? signal ?? `status ${code}`
      // What it said on stderr, unless it was passed on as it came (once it was ready).
      const said = !proc.ready && proc.stderr.trim() ? `\n${proc.stderr.trim()}` : ''
      if (this.options.givingUp !== 'leave down') {
        this.fatal = new ChainError(`${name} exited ${times} (last: ${last}); stopping the chain.${said}`)
        this.emit('fatal', this.fatal)
        this.wakePump()
        return
      }
      // Down, the rest of the chain runs on: what is sent to it counts as no route meanwhile.
      proc.leftDown = true
      this.warn(`${name} exited ${times} (last: ${last}); left down, the rest of the chain runs on: mend it, then reload the spec (xio-chain reload, or SIGHUP) to start it again${said}`)
      return
    }
    setTimeout(() => void this.restart(proc, cpu), RESTART_PAUSE_MS)
  }

  /** Starts again the NF instances left down (of the endpoints `only` picks); their names. */
  private startLeftDown(managerCpu: number, only: (name: string) => boolean): string[] {
    const revived = new Set<string>()
    for (const [i, proc] of this.instances.entries()) {
      if (!proc.leftDown || proc.retired || !only(proc.endpoint)) continue
      const cpu = this.nfCpus(managerCpu, nfCpuList(this.chain, this.chain.endpoints.get(proc.endpoint)!)?.cpu)
      this.instances[i] = this.spawnNf(proc.endpoint, proc.instance, cpu, [])
      revived.add(proc.endpoint)
    }
    return [...revived]
  }

  /**
   * Starts the replacement of an NF process that exited, on the code the chain checked; or, if
   * its module's code changed on disk since (edited while the chain runs, not reloaded yet),
   * once the new code passes the same checks against the spec the chain runs, so that a
   * replacement does not run code nothing checked. Refused, it says why (once for each reason) and looks
   * again every second; the NF's other instances, if any, take its flows meanwhile.
   */
  private async restart(proc: NfInstanceProcess, cpu: string, refusedBefore = ''): Promise<void> {
    // Looked up after every wait: a reload or a stop may have come meanwhile.
    const gone = () => this.closing || proc.retired || !this.instances.includes(proc)
    if (gone()) return
    const code = await this.changedCode(proc.endpoint)
    if (gone()) return
    const name = this.processName(proc.endpoint)
    if (code.refused !== null) {
      if (code.refused !== refusedBefore)
        this.warn(`${name}: its module's code changed since the chain checked it, and is refused: ${code.refused}; it is restarted once that is mended`)
      setTimeout(() => void this.restart(proc, cpu, code.refused!), CHANGED_CODE_RETRY_MS)
      return
    }
    if (code.changed) this.warn(`${name}: its module's code changed since the chain checked it; restarting it on the new code, checked against the spec (a reload puts every instance on it)`)
    else if (refusedBefore) this.warn(`${name}: its module's code is back to what the chain checked; restarting it`)
    this.instances[this.instances.indexOf(proc)] = this.spawnNf(proc.endpoint, proc.instance, cpu, proc.exits)
  }

  /**
   * Whether the code of an NF process's modules changed since the chain checked it, and if so
   * why it may not run (it fails the spec's checks), or null.
   */
  private async changedCode(endpoint: string): Promise<{ changed: boolean; refused: string | null }> {
    const members = processMembers(this.chain, this.chain.endpoints.get(endpoint)!).map((name) => this.chain.endpoints.get(name)!)
    let changed = false
    for (const m of members) if (m.moduleFile && (await moduleVersion(m.moduleFile)) !== m.moduleVersion) changed = true
    if (!changed) return { changed, refused: null }
    try {
      await recheckChain(this.chain)
    } catch (e) {
      if (!(e instanceof SpecError)) throw e
      const problem = e.problems[0]
      return { changed, refused: `${problem.path || '/'}: ${problem.message}` }
    }
    return { changed, refused: null }
  }

  /** `continued`: by output file, the records ports a reload replaced wrote there, which their replacements keep. */
  private async attachPorts(only?: (name: string) => boolean, continued?: Map<string, number>) {
    try {
      for (const e of this.chain.endpoints.values()) {
        if (!e.isPort || e.kind === 'service' || (only && !only(e.name))) continue  // an application attaches to a service itself
        // No assisting: between a sink's waits this thread runs the sources, and the manager's
        // thread would stand aside meanwhile (AttachOptions.assistManager).
        const xio = await attach({ prefix: this.prefix, name: e.name, assistManager: false })
        try {
          this.ports.set(e.name, await this.makePort(e.name, e.spec as { kind: string }, xio, continued))
        } catch (err) {
          xio.detach()  // a port that could not be made (an output it cannot write) holds no slot
          throw err
        }
      }
    } finally {
      this.wakePump() // a rest began before these ports were there
    }
  }

  private async makePort(name: string, spec: { kind: string }, xio: Xio, continued?: Map<string, number>): Promise<Port> {
    if (spec.kind === 'sink') return new SinkPort(name, xio)
    if (spec.kind === 'generator') return new GeneratorPort(name, xio, spec as GeneratorSpec)
    if (spec.kind === 'afpacket') return this.openInterface(name, xio, spec as AfPacketSpec)
    const pcap: PcapSpec = this.options.replay ? { ...(spec as PcapSpec), speed: 'top', loop: 1 } : (spec as PcapSpec)
    const input = this.options.inputs?.[name] ?? (pcap.input && resolve(this.chain.dir, pcap.input))
    const output = this.options.outputs?.[name] ?? (pcap.output && resolve(this.chain.dir, pcap.output))
    const capture = input ? await readPcap(input) : null
    if (capture?.truncated) this.warn(`${input}: the file ends inside its last record, which was left out`)
    if (capture && capture.linkType !== LINKTYPE_ETHERNET)
      throw new ChainError(`${input}: link type ${capture.linkType} is not Ethernet (1); xio-chain replays Ethernet captures`)
    const records = capture?.records ?? []
    return new PcapPort(name, xio, pcap, records, capture !== null, output || null, !this.options.replay, output ? continued?.get(output) : undefined)
  }

  private openInterface(name: string, xio: Xio, spec: AfPacketSpec): Port {
    try {
      return new AfPacketPort(name, xio, spec, (message) => this.warn(message))
    } catch (e) {
      xio.detach()
      throw new ChainError(`${this.chain.file}: /endpoints/${name}: ${(e as Error).message}`)
    }
  }

  /**
   * Pumps the ports until stop() (or a fatal NF failure); resolves when pumping ends. At rest
   * it sleeps until packets reach a port (RxWaiter) or a port is next due (Port.nextPumpMs: a
   * paced source's next packet), at most maxRestMs; a source that may send at once is
   * looked at again after 1 ms, then less and less often (up to every 16 ms). A chain at rest
   * costs next to nothing here: no poll every 16 ms (1.7 % of a core on its own).
   *
   * A source held back by a full TX ring is not idle: the chain is loaded. Napping 1 ms then
   * stalls it (the sinks here are not drained meanwhile, so the chain backs up to the source,
   * every NF and the manager go to sleep, and each wake-up across vCPUs costs ~50 µs); spinning
   * on the refused ring burns a CPU the NFs need. Instead the loop waits for packets to reach
   * a sink (rxWait: a short polite spin, then a futex): what leaves the chain makes room for
   * what enters it, so a loaded chain clocks its source by its output.
   */
  pump(): Promise<void> {
    this.pumping ??= (async () => {
      let idleMs = 1
      while (!this.stopping && !this.fatal) {
        const moved = this.pumpOnce()
        if (this.backlogged()) {
          idleMs = 1
          this.awaitOutput()
          await new Promise((r) => setImmediate(r))
        } else if (moved === 0) {
          await this.rest(idleMs)
          idleMs = Math.min(idleMs * 2, MAX_IDLE_PUMP_MS)
        } else {
          idleMs = 1
          await new Promise((r) => setImmediate(r))
        }
      }
    })()
    return this.pumping
  }

  /** Sleeps until a port is due, packets reach one, or stop() or a fatal failure interrupts. */
  private async rest(idleMs: number): Promise<void> {
    const now = performance.now()
    let restMs = this.options.maxRestMs ?? MAX_REST_MS
    const receivers: Xio[] = []
    for (const port of this.ports.values()) {
      restMs = Math.min(restMs, Math.max(port.nextPumpMs(now) - now, idleMs))
      if (port.wakesOnRx) receivers.push(port.xio)
    }
    // With no receiving port, a sleep that wakePump() still cuts short; past what one wait
    // takes, the poll of before.
    if (receivers.length <= RxWaiter.MAX) await this.rxWaiter.wait(receivers, restMs)
    else await sleep(idleMs)
  }

  /** Cuts a rest short: the pump loop has something to look at (stopping, a failure, new ports). */
  private wakePump(): void {
    this.rxWaiter.interrupt()
  }

  pumpOnce(): number {
    const now = performance.now()
    let moved = 0
    for (const port of this.ports.values()) moved += port.pump(now)
    return moved
  }

  /** Whether a source port's last pump left packets the chain did not take (Port.backlogged). */
  private backlogged(): boolean {
    for (const port of this.ports.values()) if (port.backlogged) return true
    return false
  }

  /**
   * Blocks (at most BACKLOG_WAIT_MS) until packets reach a sink, and takes them; without a
   * port that can wait so, gives the CPU away once. Either way the event loop runs next.
   */
  private awaitOutput(): void {
    for (const port of this.ports.values())
      if (port.pumpWhenReadable) {
        port.pumpWhenReadable(BACKLOG_WAIT_MS)
        return
      }
    addon.schedYield()
  }

  /**
   * Replays every input capture once, deterministically: records go in in capture-time order
   * across all inputs, and the chain drains before the input switches to another port (or
   * after every packet, when NF instances could interleave), so NF state such as NAT mappings
   * sees the same order every run and the outputs are byte-identical.
   */
  async replayInOrder(interrupted: () => boolean = () => false): Promise<void> {
    const sources = [...this.ports.values()].filter((p) => p.isSource)
    const pcaps = sources.filter((p): p is PcapPort => p instanceof PcapPort)
    if (pcaps.length !== sources.length) throw new ChainError('replay takes pcap inputs only; this chain has a generator port (use run)')
    if (!pcaps.length) throw new ChainError(`no input capture: give one with --input <endpoint>=<file.pcap>`)
    // Where packets of two senders meet (several instances, or two links into one endpoint),
    // their interleaving depends on timing: drain after every packet there.
    const senders = new Map<string, number>()
    for (const l of this.chain.links) senders.set(l.to, (senders.get(l.to) ?? 0) + 1)
    const eachPacket = [...this.chain.endpoints.values()].some((e) => e.instances > 1 || (senders.get(e.name) ?? 0) > 1)
    let last: PcapPort | null = null
    for (;;) {
      if (interrupted()) throw new ChainError('replay interrupted; outputs hold what got through so far')
      let next: PcapPort | null = null
      for (const p of pcaps) if (!p.exhausted && (!next || p.nextTime() < next.nextTime())) next = p
      if (!next) break
      if (next !== last || eachPacket) {
        if (!(await this.drain(10_000))) throw this.fatal ?? new ChainError('the chain did not drain within 10 s during replay')
        last = next
      }
      let until: bigint | null = null
      for (const p of pcaps) if (p !== next && !p.exhausted && (until === null || p.nextTime() < until)) until = p.nextTime()
      const want = eachPacket ? 1 : next.countBefore(until, 32)
      let moved = 0
      const deadline = Date.now() + 10_000
      while (moved < want) {
        moved += next.inject(want - moved)
        if (moved < want) {
          this.pumpOnce()
          await new Promise((r) => setImmediate(r))
        }
        if (this.fatal) throw this.fatal
        if (Date.now() > deadline) throw new ChainError('the chain took no packet for 10 s during replay')
      }
      this.pumpOnce()
    }
    if (!(await this.drain(10_000))) throw this.fatal ?? new ChainError('the chain did not drain within 10 s after replay')
  }

  /** Waits until no buffer is in flight (pumping the outputs meanwhile); false on timeout. */
  async drain(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      this.pumpOnce()
      if (this.manager.region.buffersInUse() === 0) return true
      if (Date.now() > deadline || this.fatal) return false
      await sleep(1)
    }
  }

  /**
   * Applies a new spec to the running chain (`xio-chain reload`, SIGHUP to run), one reload at
   * a time (reload.ts): new endpoints start and are wired before anything sends to them;
   * changed NF configs are taken live; every rewired gate changes at once; removed endpoints
   * are unwired, drained, and stopped. Throws ReloadRefused (before changing anything) for what
   * only a restart can change.
   */
  reload(next: Chain): Promise<ReloadPlan> {
    return this.reloader.reload(next)
  }

  get failure(): ChainError | null {
    return this.fatal
  }

  /** Who has buffers beyond its cache (in its RX ring or its hands), most first: ': nat 8192, lan 12'; '' if none. */
  private keepers(): string {
    const by = new Map<string, number>()
    for (const s of this.manager.snapshot().slots)
      if (s.state === 'active' && !s.capture) by.set(s.name, (by.get(s.name) ?? 0) + Math.max(0, s.buffers - s.rings.alloc.used))
    const most = [...by].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 3)
    return most.length ? `: ${most.map(([name, n]) => `${name} ${n}`).join(', ')}` : ''
  }

  /** Stops sources, drains, flushes outputs, stops the NFs and removes the region. */
  async stop(): Promise<void> {
    if (this.closing) return
    this.closing = true
    if (this.watchdog) clearInterval(this.watchdog)
    // A reload under way (a SIGHUP just before Ctrl-C) finishes first: it rewires through the
    // region and may be starting NFs. Its steps are bounded (answers and drains time out).
    await this.reloader.settled()
    for (const port of this.ports.values()) port.stopSources()
    if (!(await this.drain(2000))) this.warn(`${this.manager.region.buffersInUse()} buffers were still in use after 2 s (packets in flight, or kept by an NF${this.keepers()}); they are dropped`)
    // Which slots the NF instances hold, while they hold them: each publishes its final counters
    // as it leaves, and those are read once all have left.
    const nfSlots = this.manager.snapshot().slots.filter((x) => x.state === 'active' && this.chain.endpoints.get(x.name)?.isPort === false)
    // NFs go first, while the ports still take what they send on their way out.
    const exits = this.instances.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => {
      p.child.kill('SIGTERM')
      return once(p.child, 'exit')
    })
    const killTimer = setTimeout(() => this.instances.forEach((p) => p.child.kill('SIGKILL')), 5000)
    await Promise.all(exits)
    clearTimeout(killTimer)
    for (const { slot, name } of nfSlots) {
      for (const [endpoint, counters] of countersByEndpoint(name, this.manager.region.nfCounters(slot))) {
        const total = this.finalNfCounters.get(endpoint) ?? {}
        for (const [counter, value] of Object.entries(counters)) total[counter] = (total[counter] ?? 0) + value
        this.finalNfCounters.set(endpoint, total)
      }
    }
    await this.drain(500)
    this.stopping = true
    this.wakePump()
    await this.pumping
    // Every port closes and the region goes whatever fails on the way; the first failure (a
    // capture that could not be written) is reported after.
    let failure: unknown = null
    for (const port of this.ports.values()) {
      try {
        port.close()
      } catch (e) {
        failure ??= e
      }
    }
    this.manager.close()
    removeStateSegments(this.prefix)  // the NFs' state goes with the chain
    if (failure) throw failure
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const MAX_IDLE_PUMP_MS = 16
// LaunchOptions.maxRestMs's default.
const MAX_REST_MS = 1000
// The longest a backlogged source waits for the chain's output before trying again: what a
// blocked event loop may be late by.
const BACKLOG_WAIT_MS = 1
