// Testing an NF without the data plane: `import { harness } from 'xio-chain/testing'` builds
// the NF from its config and runs it in this process on frames you give it (or a capture's),
// one at a time, the way the runner would: each frame is copied into a buffer of its own, the
// NF decides in place, and what left each gate, what was dropped and what it sent or dropped
// of its own (held packets, ARP requests) is recorded as bytes. Time is the harness's clock,
// which you move; tick() runs every 100 ms of it, as in a chain.
import type { Counters, NFEnv, NFInstance, NFModule, Packet, PacketOut } from '../xio/nf-types.ts'
import { DROP, HOLD } from '../xio/nf-types.ts'
import { readPcap } from '../chain/pcap.ts'

/** The runner's tick period. */
const TICK_MS = 100

export interface HarnessOptions {
  /** Endpoint id each gate leads to, as a chain would wire it (default: gate i leads to 100 + i). */
  gates?: Record<string, number>
  /** Endpoint ids of other names the NF may ask for (env.endpointId). */
  endpoints?: Record<string, number>
  /** Bytes a packet buffer holds (default 1984: a 2 KiB pool buffer less metadata and headroom). */
  capacity?: number
  /** Buffers the NF may hold or allocate at once (default 1024). */
  buffers?: number
  /** The clock's start, in ms (default 0). */
  now?: number
}

export interface SendOptions {
  /** Endpoint id (or gate name, meaning the endpoint it leads to) the packet comes from. */
  from?: number | string
  /** Endpoint id of the port where it entered the chain (default: as `from`). */
  inPort?: number
  flowHash?: number
}

/** What became of one packet given to the NF. */
export interface Outcome {
  /** The gate it left by, 'drop', or 'held' (the NF keeps it for later). */
  verdict: string
  /** Its bytes after the NF (as it left, or as it was when dropped or held). */
  frame: Uint8Array
}

/** A packet that left by a gate, in order: from process(), or sent by the NF itself. */
export interface Sent {
  gate: string
  frame: Uint8Array
}

export class Harness {
  readonly instance: NFInstance
  /** Everything that left by a gate, in order. */
  readonly sent: Sent[] = []
  /** Everything the NF dropped, as it was when dropped. */
  readonly dropped: Uint8Array[] = []
  /** What the NF said of its config that is allowed but likely not meant. */
  readonly warnings: Array<{ path: string; message: string }> = []
  private clock: number
  private lastTick: number
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private readonly capacity: number
  private readonly free: number[]
  /** Length of each buffer's packet when the NF held it. */
  private readonly lengths: Int32Array
  private readonly gateIds: Map<string, number>
  private readonly packet: Packet

  constructor(private readonly nf: NFModule<unknown>, config: unknown, options: HarnessOptions = {}) {
    this.capacity = options.capacity ?? 1984
    const buffers = options.buffers ?? 1024
    this.bytes = new Uint8Array(this.capacity * buffers)
    this.view = new DataView(this.bytes.buffer)
    this.free = Array.from({ length: buffers }, (_, i) => buffers - 1 - i)
    this.lengths = new Int32Array(buffers)
    this.clock = options.now ?? 0
    this.lastTick = this.clock
    this.gateIds = new Map(nf.gates.map((g, i) => [g, options.gates?.[g] ?? 100 + i]))
    this.packet = { bytes: this.bytes, view: this.view, d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0 }
    const packets: PacketOut = {
      alloc: () => {
        const d = this.free.pop()
        if (d === undefined) return null
        this.lengths[d] = 0
        return { bytes: this.bytes, view: this.view, d, at: d * this.capacity, length: 0, from: 0, inPort: 0, flowHash: 0 }
      },
      send: (d, gate, length) => {
        this.sent.push({ gate: this.gateName(gate), frame: this.bytes.slice(d * this.capacity, d * this.capacity + length) })
        this.free.push(d)
      },
      drop: (d) => {
        this.dropped.push(this.bytes.slice(d * this.capacity, d * this.capacity + this.lengths[d]))
        this.free.push(d)
      },
    }
    const env: NFEnv = {
      endpointId: (name) => options.endpoints?.[name] ?? this.gateIds.get(name) ?? -1,
      gateTarget: (gate) => this.gateIds.get(gate) ?? -1,
      now: () => this.clock,
      warn: (path, message) => this.warnings.push({ path, message }),
      packets,
    }
    this.instance = nf.create(config, env)
  }

  /** The harness's clock, in ms. */
  get now(): number {
    return this.clock
  }

  /** Moves the clock on, running tick() every 100 ms of it, as a chain's runner does. */
  advance(ms: number): void {
    const until = this.clock + ms
    while (this.lastTick + TICK_MS <= until) {
      this.lastTick += TICK_MS
      this.clock = this.lastTick
      this.instance.tick?.(this.clock)
    }
    this.clock = until
  }

  /** Gives the NF one frame; says what became of it. */
  send(frame: Uint8Array, options: SendOptions = {}): Outcome {
    if (frame.length > this.capacity) throw new RangeError(`a ${frame.length}-byte frame does not fit a ${this.capacity}-byte buffer`)
    const d = this.free.pop()
    if (d === undefined) throw new Error(`all ${this.bytes.length / this.capacity} buffers are held by the NF`)
    const at = d * this.capacity
    this.bytes.set(frame, at)
    const from = typeof options.from === 'string' ? (this.gateIds.get(options.from) ?? -1) : (options.from ?? 0)
    const p = this.packet
    p.d = d
    p.at = at
    p.length = frame.length
    p.from = from
    p.inPort = options.inPort ?? from
    p.flowHash = options.flowHash ?? 0
    const gate = this.instance.process(p)
    const after = this.bytes.slice(at, at + p.length)
    if (gate === HOLD) {
      this.lengths[d] = p.length
      return { verdict: 'held', frame: after }
    }
    this.free.push(d)
    if (gate === DROP) {
      this.dropped.push(after)
      return { verdict: 'drop', frame: after }
    }
    const name = this.gateName(gate)
    this.sent.push({ gate: name, frame: after })
    return { verdict: name, frame: after }
  }

  /**
   * Gives the NF every frame of a capture in order, the clock following the capture's own
   * time (as `xio-chain replay` runs NFs), and returns each one's outcome.
   */
  async replay(file: string, options: SendOptions = {}): Promise<Outcome[]> {
    const capture = await readPcap(file)
    const outcomes: Outcome[] = []
    for (const record of capture.records) {
      const t = Number(record.timestampNs / 1_000_000n)
      if (outcomes.length === 0 && t > this.clock) {
        this.clock = t
        this.lastTick = t
      }
      if (t > this.clock) this.advance(t - this.clock)
      outcomes.push(this.send(record.data, options))
    }
    return outcomes
  }

  /** What left by one gate, in order. */
  out(gate: string): Uint8Array[] {
    return this.sent.filter((s) => s.gate === gate).map((s) => s.frame)
  }

  counters(): Counters {
    return this.instance.counters?.() ?? {}
  }

  private gateName(gate: number): string {
    const name = this.nf.gates[gate]
    if (name === undefined) throw new RangeError(`the NF sent a packet by gate ${gate}; it has ${this.nf.gates.length} (${this.nf.gates.join(', ')})`)
    return name
  }
}

/** Builds an NF from its config for a test; throws NFConfigError (naming the field) as `validate` would. */
export function harness<Config>(nf: NFModule<Config>, config: Config, options: HarnessOptions = {}): Harness {
  return new Harness(nf as NFModule<unknown>, config, options)
}
