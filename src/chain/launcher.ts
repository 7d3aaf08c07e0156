// The launcher: runs a chain. It creates the region, declares every endpoint, wires the
// routes from the spec's links, starts the manager thread, starts each NF instance as its own
// process (attached by prefix), attaches the ports here, and pumps them. It restarts an NF
// that dies, gives up after too many restarts, and on stop drains what is in flight, flushes
// the outputs, stops every process and removes the region.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { cpus } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { attach, layout, Manager, type Xio } from '../xio/index.ts'
import { nfLabel, type Chain } from './spec.ts'
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

export interface LaunchOptions {
  /** Overrides the spec's (or the file name's) prefix. */
  prefix?: string
  /** Endpoint → capture to read instead of the spec's input. */
  inputs?: Record<string, string>
  /** Endpoint → capture to write instead of the spec's output. */
  outputs?: Record<string, string>
  /** Restarts allowed per NF before the chain gives up (default 5). */
  maxRestarts?: number
  /** Every capture once, at top speed, whatever the spec says (for replayInOrder). */
  replay?: boolean
  /** Where notices go that do not stop the chain (default: stderr). */
  warn?: (message: string) => void
}

/** What an NF process runs (sent on its stdin): a built-in's kind, or a module's file, and the config. */
export interface NfOrder {
  kind: string
  module?: string
  config: unknown
  /** What messages call it (nfLabel). */
  label: string
}

export interface NfInstanceProcess {
  endpoint: string
  /** Which instance of the endpoint (0 to instances - 1), the same across its restarts. */
  instance: number
  child: ChildProcess
  restarts: number
  stderr: string
  /** It said `ready`: attached, and its NF accepted the config. */
  ready: boolean
}

export class ChainError extends Error {
  override name = 'ChainError'
}

/** Events: 'nf-exit' ({ endpoint, pid, code, signal, restarting }), 'fatal' (ChainError). */
export class RunningChain extends EventEmitter {
  readonly ports = new Map<string, Port>()
  readonly instances: NfInstanceProcess[] = []
  /** Each NF endpoint's counters as its instances left them, summed over them; filled by stop(). */
  readonly finalNfCounters = new Map<string, Record<string, number>>()
  private stopping = false
  /** stop() has begun: NFs that exit from now on are not restarted. */
  private closing = false
  private pumping: Promise<void> | null = null
  private fatal: ChainError | null = null

  private constructor(readonly chain: Chain, readonly manager: Manager, private readonly options: LaunchOptions) {
    super()
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
    const slots = [...chain.endpoints.values()].reduce((n, e) => n + e.instances, 0)
    const manager = Manager.create({
      prefix: options.prefix ?? chain.prefix,
      slots: Math.min(64, slots + 8 + layout.capture.maxCaptures),  // room for restarts, observers' own endpoints and captures
      buffers: spec.pool?.buffers,
      bufferSize: spec.pool?.bufferSize,
      ringSize: spec.pool?.ringSize,
      chainFile: resolve(chain.file),
    })
    const running = new RunningChain(chain, manager, options)
    try {
      for (const name of chain.endpoints.keys()) manager.declare(name)
      for (const l of chain.links) manager.route(l.from, l.gateIndex, l.to)
      const managerCpu = spec.manager?.cpu ?? 0
      manager.start({ cpu: managerCpu < cpus().length ? managerCpu : undefined, burst: spec.manager?.burst, spinUs: spec.manager?.spinUs })
      await running.startNfs(managerCpu)
      await running.attachPorts()
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

  private async startNfs(managerCpu: number) {
    for (const e of this.chain.endpoints.values()) {
      if (e.isPort) continue
      const cpu = this.nfCpus(managerCpu, (e.spec as { cpu?: number[] }).cpu)
      for (let i = 0; i < e.instances; i++) this.instances.push(this.spawnNf(e.name, i, cpu, 0))
    }
    const deadline = Date.now() + 20_000
    while (!this.instances.every((p) => p.ready)) {
      if (this.fatal) throw this.fatal
      const failed = this.instances.find((p) => p.child.exitCode !== null || p.child.signalCode !== null)
      if (failed) {
        if (!failed.child.stderr!.readableEnded) await once(failed.child.stderr!, 'end')
        throw new ChainError(`NF '${failed.endpoint}' exited with status ${failed.child.exitCode ?? failed.child.signalCode} while starting:\n${failed.stderr.trim()}`)
      }
      if (Date.now() > deadline) throw new ChainError(`NFs did not start within 20 s: ${this.instances.filter((p) => !p.ready).map((p) => p.endpoint).join(', ')}`)
      await sleep(20)
    }
  }

  private spawnNf(endpoint: string, instance: number, cpu: string, restarts: number): NfInstanceProcess {
    // A replay runs NFs on the captures' time, so it gives the same output however long it takes.
    const clock = this.options.replay ? 'packets' : 'wall'
    const child = spawn(process.execPath, [...nodeArgs, nfProcessScript, this.chain.file, endpoint, this.prefix, cpu, clock, String(instance)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    // Its NF and config, as checked here: the process need not read and check the spec again
    // (compiling the chain schema alone took a restart 140 ms).
    const e = this.chain.endpoints.get(endpoint)!
    const order: NfOrder = { kind: e.kind, module: e.moduleFile, config: (e.spec as { config?: unknown }).config ?? {}, label: nfLabel(e) }
    child.stdin!.on('error', () => {})  // a process that died at once; its exit says why
    child.stdin!.end(JSON.stringify(order))
    const proc: NfInstanceProcess = { endpoint, instance, child, restarts, stderr: '', ready: false }
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString().includes('ready\n')) proc.ready = true
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

  private onNfExit(proc: NfInstanceProcess, cpu: string, code: number | null, signal: NodeJS.Signals | null) {
    if (this.closing) return
    const limit = this.options.maxRestarts ?? 5
    const restarting = proc.restarts < limit
    this.emit('nf-exit', { endpoint: proc.endpoint, pid: proc.child.pid, code, signal, restarting, stderr: proc.stderr })
    const index = this.instances.indexOf(proc)
    if (!restarting) {
      this.fatal = new ChainError(
        `NF '${proc.endpoint}' exited ${limit + 1} times (last: ${signal ?? `status ${code}`}); stopping the chain.\n${proc.stderr.trim()}`,
      )
      this.emit('fatal', this.fatal)
      return
    }
    // A short pause, so a crash loop does not spin.
    setTimeout(() => {
      if (!this.closing && index >= 0) this.instances[index] = this.spawnNf(proc.endpoint, proc.instance, cpu, proc.restarts + 1)
    }, 200)
  }

  private async attachPorts() {
    for (const e of this.chain.endpoints.values()) {
      if (!e.isPort) continue
      const xio = await attach({ prefix: this.prefix, name: e.name })
      this.ports.set(e.name, await this.makePort(e.name, e.spec as { kind: string }, xio))
    }
  }

  private async makePort(name: string, spec: { kind: string }, xio: Xio): Promise<Port> {
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
    return new PcapPort(name, xio, pcap, records, capture !== null, output || null, !this.options.replay)
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
   * Pumps the ports until stop() (or a fatal NF failure); resolves when pumping ends. Idle,
   * it looks again after 1 ms, then less and less often (up to every 16 ms): a chain at rest
   * (or one whose ports run natively, as afpacket's do) costs next to nothing here.
   */
  pump(): Promise<void> {
    this.pumping ??= (async () => {
      let idleMs = 1
      while (!this.stopping && !this.fatal) {
        if (this.pumpOnce() === 0) {
          await sleep(idleMs)
          idleMs = Math.min(idleMs * 2, MAX_IDLE_PUMP_MS)
        } else {
          idleMs = 1
          await new Promise((r) => setImmediate(r))
        }
      }
    })()
    return this.pumping
  }

  pumpOnce(): number {
    const now = performance.now()
    let moved = 0
    for (const port of this.ports.values()) moved += port.pump(now)
    return moved
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

  /** Whether every source port has sent all it has. */
  sourcesDone(): boolean {
    return [...this.ports.values()].every((p) => !p.isSource || p.exhausted)
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

  get failure(): ChainError | null {
    return this.fatal
  }

  /** Stops sources, drains, flushes outputs, stops the NFs and removes the region. */
  async stop(): Promise<void> {
    if (this.closing) return
    this.closing = true
    for (const port of this.ports.values()) port.stopSources()
    if (!(await this.drain(2000))) this.warn(`${this.manager.region.buffersInUse()} packets were still in flight after 2 s; they are dropped`)
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
      const total = this.finalNfCounters.get(name) ?? {}
      for (const [counter, value] of Object.entries(this.manager.region.nfCounters(slot))) total[counter] = (total[counter] ?? 0) + value
      this.finalNfCounters.set(name, total)
    }
    await this.drain(500)
    this.stopping = true
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
    if (failure) throw failure
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const MAX_IDLE_PUMP_MS = 16
