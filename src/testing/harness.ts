// Testing an NF without the data plane: `import { harness } from 'xio-chain/testing'` builds
// the NF from its config and runs it in this process on frames you give it (or a capture's),
// one at a time, the way the runner would: each frame is copied into a pool buffer of its own,
// the NF decides in place, and what left each gate, what was dropped and what it sent or
// dropped of its own (held packets, ARP requests) is recorded as bytes. Time is the harness's
// clock, which you move; tick() runs every 100 ms of it, as in a chain.
//
// It is strict on purpose, since a test is where an NF's bugs should show, not a chain at
// line rate: buffers are laid out as the region's are (metadata, 128 bytes of headroom, then
// the frame), and each is filled with a marker before a frame goes in, so an NF that reads
// before or past its frame sees garbage rather than a tidy zero; freed buffers are reused
// last-in first-out, so a packet the NF forgot it gave back is overwritten by the very next
// one; and what the runner would quietly count as a fault (a verdict that is no gate, sending
// or dropping a buffer that is not the NF's, a length past the buffer) throws here, naming it.
import type { Counters, NFEnv, NFInstance, NFModule, Packet, PacketOut } from '../xio/nf-types.ts'
import { CONSUMED, DROP, HOLD, NFConfigError } from '../xio/nf-types.ts'
import { readPcap } from '../chain/pcap.ts'
import { configValidator, schemaProblems } from '../chain/schema-check.ts'

/** The runner's tick period. */
const TICK_MS = 100
/** A region buffer: its metadata, then the headroom, then the packet bytes (native/layout.h); here the metadata is marker too. */
const BUFFER_SIZE = 2048
const METADATA = 64
const HEADROOM = 128

/** What fills every buffer before a frame or an alloc() goes in: what an NF reading outside its frame sees. */
export const MARKER = 0xee

export interface HarnessOptions {
  /**
   * Endpoint id each gate leads to, as a chain would wire it; -1 for a gate not (yet) wired
   * (see route()). Default: gate i leads to 100 + i. A name the NF has no gate by is an error.
   */
  gates?: Record<string, number>
  /** Endpoint ids of other names the NF may ask for (env.endpointId). */
  endpoints?: Record<string, number>
  /** Bytes a packet buffer holds (default 1856: a 2 KiB pool buffer less metadata and headroom). */
  capacity?: number
  /** Bytes of headroom before each frame (default 128, as the region's); with the metadata's 64, all marker. */
  headroom?: number
  /** Buffers the NF may hold or allocate at once (default 1024). */
  buffers?: number
  /** The clock's start, in ms (default 0). */
  now?: number
  /**
   * How often tick() runs on the harness clock, in ms (default 100, as the runner). The runner
   * ticks about that often, never more: a smaller period tests a timer's arithmetic finer.
   */
  tickMs?: number
  /** False builds the NF without env.packets, as `validate` does: an NF must cope (default true). */
  packets?: boolean
  /**
   * False leaves the config to create() alone, skipping the check against the NF's schema that
   * `validate` makes first (default true): for tests of create()'s own checks and messages.
   */
  schema?: boolean
  /**
   * The memory env.state gives the NF, if it asks with this tag and size: another harness's
   * `state`, to test that an NF resumes what it kept there as a restarted process would (use
   * the first harness no more; give it `{ ...h.state, buffer: h.state.buffer.slice(0) }` to
   * keep it going). Default, or when tag or size differ: fresh zeroed memory, as a new chain's.
   */
  state?: NFState | null
  /**
   * Which instance the NF is of how many (env.placement), for an NF that splits its state
   * between instances: what it hands to another one is in `packets.handedOff`; give it what
   * another hands to it with send(frame, { handoff: tag }). Default: none given, as
   * `validate` builds it (one instance).
   */
  placement?: { instance: number; instances: number }
}

/** What an NF got from env.state (Harness.state). */
export interface NFState {
  buffer: ArrayBuffer
  bytes: number
  tag: string
}

export interface SendOptions {
  /**
   * Endpoint the packet comes from: an id, a gate name (meaning the endpoint it leads to) or
   * a name from `endpoints` (default 0).
   */
  from?: number | string
  /** Endpoint of the port where it entered the chain, as `from` (default: `from`). */
  inPort?: number | string
  flowHash?: number
  /** Handed over by another instance with this tag (Packet.handoff); default: not handed over. */
  handoff?: number
}

/** What became of one packet given to the NF. */
export interface Outcome {
  /**
   * The gate it left by, 'drop', 'consumed' (it ended at the NF: CONSUMED), 'held' (the NF
   * keeps it for later), or 'instance N' (handed to instance N of its endpoint, to be decided
   * there: packets.toInstance).
   */
  verdict: string
  /** Its bytes after the NF (as it left, or as it was when dropped or held). */
  frame: Uint8Array
  /**
   * The flow hash as the NF left it (it may set one for the next hop). Not enumerable, as
   * `d` below: an Outcome deep-equals `{ verdict, frame }`, as tests compare it.
   */
  readonly flowHash: number
  /** The descriptor (pool buffer) it was in: with `bytes` and `offset()`, the buffer around the frame. */
  readonly d: number
}

/** A packet the NF handed to another instance of its endpoint (env.packets.toInstance). */
export interface HandedOff {
  instance: number
  /** The tag it was handed with: the receiver's Packet.handoff. */
  tag: number
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
  /**
   * What the NF sent and dropped itself, through env.packets (held packets it let go, packets
   * it made): these are in `sent` and `dropped` too, among process()'s verdicts.
   */
  readonly packets: { readonly sent: Sent[]; readonly dropped: Uint8Array[]; readonly handedOff: HandedOff[] } = { sent: [], dropped: [], handedOff: [] }
  /** What the NF said of its config that is allowed but likely not meant. */
  readonly warnings: Array<{ path: string; message: string }> = []
  /** The memory env.state gave the NF, if it asked (null if not): see HarnessOptions.state. */
  state: NFState | null = null
  /** The pool, as the NF sees it (Packet.bytes): a frame is bytes[offset(d), + length). */
  readonly bytes: Uint8Array
  private clock: number
  private lastTick: number
  /** When replay() last ticked: the runner's packet clock ticks at the first packet. */
  private replayTick = -Infinity
  private readonly tickMs: number
  private readonly view: DataView
  private readonly capacity: number
  private readonly stride: number
  /** From a buffer's start to its frame: metadata and headroom. */
  private readonly data: number
  private readonly buffers: number
  /** Free buffers, a stack: the last one freed is the next one used. */
  private readonly free: number[]
  /** 1 where the buffer is the NF's: the packet process() decides on, a held one, or one it allocated. */
  private readonly owned: Uint8Array
  private ownedCount = 0
  /** Length of each buffer's packet when the NF held it (what a drop() of it records). */
  private readonly lengths: Int32Array
  /** The Packet env.packets.alloc() gave for each buffer, by descriptor. */
  private readonly made: (Packet | undefined)[] = []
  /** The descriptor process() is deciding on, -1 outside it. */
  private current = -1
  /** The instance process() handed its packet to, -1 if it did not. */
  private handedNow = -1
  private readonly gateIds: Map<string, number>
  private readonly packet: Packet
  private readonly label: string

  constructor(private readonly nf: NFModule<unknown>, config: unknown, private readonly options: HarnessOptions = {}) {
    this.label = nf.name ?? 'the NF'
    this.capacity = options.capacity ?? BUFFER_SIZE - METADATA - HEADROOM
    this.data = METADATA + (options.headroom ?? HEADROOM)
    this.stride = this.data + this.capacity
    this.buffers = options.buffers ?? 1024
    this.tickMs = options.tickMs ?? TICK_MS
    if (!(this.tickMs > 0)) throw new RangeError(`tickMs must be above 0, not ${this.tickMs}`)
    // A last metadata block past the last buffer, so a read past any buffer meets the marker.
    this.bytes = new Uint8Array(this.buffers * this.stride + METADATA).fill(MARKER)
    this.view = new DataView(this.bytes.buffer)
    this.free = Array.from({ length: this.buffers }, (_, i) => this.buffers - 1 - i)
    this.owned = new Uint8Array(this.buffers)
    this.lengths = new Int32Array(this.buffers)
    this.clock = options.now ?? 0
    this.lastTick = this.clock
    for (const gate of Object.keys(options.gates ?? {})) {
      // A misspelt gate would leave the real one on its default and the test none the wiser.
      if (!nf.gates.includes(gate)) throw new Error(`options.gates names "${gate}": ${this.label} has gates ${nf.gates.join(', ')}`)
    }
    this.gateIds = new Map(nf.gates.map((g, i) => [g, options.gates?.[g] ?? 100 + i]))
    this.packet = { bytes: this.bytes, view: this.view, d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0, handoff: -1 }
    const packets: PacketOut = {
      alloc: () => {
        const d = this.take()
        if (d < 0) return null
        this.lengths[d] = 0
        // Its buffer's one Packet, reset, as the runner gives it (src/xio/nf.ts Outbox): an NF
        // that keeps using it after sending it meets its next use here too.
        const p = (this.made[d] ??= { bytes: this.bytes, view: this.view, d, at: this.offset(d), length: 0, from: 0, inPort: 0, flowHash: 0, handoff: -1 })
        p.length = 0
        p.from = 0
        p.inPort = 0
        p.flowHash = 0
        p.handoff = -1
        return p
      },
      copy: (p) => {
        if (!this.fits(p.length)) throw new RangeError(this.lengthFault(`env.packets.copy(${p.d})`, p.length))
        const c = packets.alloc()
        if (c === null) return null
        this.bytes.copyWithin(c.at, p.at, p.at + p.length)
        this.lengths[c.d] = c.length = p.length
        c.inPort = p.inPort
        c.flowHash = p.flowHash
        return c
      },
      send: (d, gate, length) => {
        this.checkOwned(d, `env.packets.send(${d}, ${gate}, ${length})`)
        const name = this.gateName(gate, `env.packets.send(${d}, ${gate}, ${length})`)
        if (!this.fits(length)) throw new RangeError(this.lengthFault(`env.packets.send(${d}, ${gate}, ${length})`, length))
        const sent = { gate: name, frame: this.frameIn(d, length) }
        this.sent.push(sent)
        this.packets.sent.push(sent)
        this.release(d)
      },
      toInstance: (d, instance, length, tag = 0) => {
        const call = `env.packets.toInstance(${d}, ${instance}, ${length}, ${tag})`
        this.checkOwned(d, call)
        const instances = options.placement?.instances ?? 1
        if (!(Number.isInteger(instance) && instance >= 0 && instance < instances))
          throw new RangeError(`${call}: ${this.label} runs as ${instances} instance${instances === 1 ? '' : 's'} here (HarnessOptions.placement), numbered from 0`)
        if (!this.fits(length)) throw new RangeError(this.lengthFault(call, length))
        if (tag !== 0 && tag !== 1) throw new RangeError(`${call}: a tag is 0 or 1`)
        const handed = { instance, tag, frame: this.frameIn(d, length) }
        this.packets.handedOff.push(handed)
        if (d === this.current) this.handedNow = instance
        this.release(d)
      },
      drop: (d) => {
        this.checkOwned(d, `env.packets.drop(${d})`)
        const frame = this.frameIn(d, d === this.current ? this.packet.length : this.lengths[d])
        this.dropped.push(frame)
        this.packets.dropped.push(frame)
        this.release(d)
      },
    }
    const env: NFEnv = {
      endpointId: (name) => options.endpoints?.[name] ?? this.gateIds.get(name) ?? -1,
      gateTarget: (gate) => this.gateIds.get(gate) ?? -1,
      now: () => this.clock,
      warn: (path, message) => this.warnings.push({ path, message }),
      state: (bytes, tag) => {
        if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`env.state(${bytes}, ...): bytes must be a positive integer`)
        const given = options.state
        this.state = given && given.bytes === bytes && given.tag === tag ? given : { buffer: new ArrayBuffer(bytes), bytes, tag }
        return this.state.buffer
      },
      ...(options.packets === false ? {} : { packets }),
      ...(options.placement ? { placement: { ...options.placement } } : {}),
    }
    if (options.schema !== false) checkAgainstSchema(nf, config)
    this.instance = nf.create(config, env)
  }

  /** The harness's clock, in ms. */
  get now(): number {
    return this.clock
  }

  /**
   * Buffers the NF has now: packets it held and buffers it allocated, not yet sent or dropped.
   * An NF that has let go of everything it should have is at 0: assert it to catch leaks.
   */
  get held(): number {
    return this.ownedCount
  }

  /** Where descriptor d's frame starts in `bytes` (the headroom before it, the rest of the buffer after). */
  offset(d: number): number {
    return d * this.stride + this.data
  }

  /** Wires a gate to an endpoint after the NF was built, as a launcher routes gates once every NF is up (-1: unwired). */
  route(gate: string, to: number): void {
    if (!this.gateIds.has(gate)) throw new Error(`route("${gate}"): ${this.label} has gates ${this.nf.gates.join(', ')}`)
    this.gateIds.set(gate, to)
  }

  /** Moves the clock on, running tick() every 100 ms of it (tickMs), as a chain's runner does. */
  advance(ms: number): void {
    // The runner's clock is monotonic: going back would be a test's mistake, not a case an NF must handle.
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): the clock only moves forward`)
    const until = this.clock + ms
    while (this.lastTick + this.tickMs <= until) {
      this.lastTick += this.tickMs
      this.clock = this.lastTick
      this.instance.tick?.(this.clock)
    }
    this.clock = until
  }

  /**
   * Calls idle() at the clock's time, as a chain's runner does once the NF has had no packet for
   * about a second, and then when it asks: returns what it asked, the ms it can do without
   * another call while no packet comes. An NF without idle() is ticked every tickMs instead.
   */
  idle(): number {
    if (!this.instance.idle) return this.tickMs
    this.lastTick = this.clock
    return this.instance.idle(this.clock)
  }

  /** Gives the NF one frame; says what became of it. */
  send(frame: Uint8Array, options: SendOptions = {}): Outcome {
    if (frame.length > this.capacity) throw new RangeError(`a ${frame.length}-byte frame does not fit a ${this.capacity}-byte buffer`)
    const from = options.from === undefined ? 0 : this.endpoint(options.from, 'from')
    const inPort = options.inPort === undefined ? from : this.endpoint(options.inPort, 'inPort')
    const d = this.take()
    if (d < 0) throw new Error(`all ${this.buffers} buffers are ${this.label}'s: held or allocated and never sent or dropped`)
    const at = this.offset(d)
    this.bytes.set(frame, at)
    // One Packet for every frame, as the runner's: an NF that keeps it instead of its numbers finds it changed.
    const p = this.packet
    p.d = d
    p.at = at
    p.length = frame.length
    p.from = from
    p.inPort = inPort
    p.flowHash = options.flowHash ?? 0
    p.handoff = options.handoff ?? -1
    this.current = d
    this.handedNow = -1
    let gate: number
    try {
      gate = this.instance.process(p)
    } catch (e) {
      // The runner drops the packet of a process() that threw; so does the harness, before saying so.
      this.reclaim(d)
      throw e
    } finally {
      this.current = -1
    }
    const length = p.length
    // What the runner would count as a fault and drop: here the packet goes back to the pool
    // (the harness stays usable) and the test hears of it.
    const fault = gate !== HOLD && gate !== DROP && gate !== CONSUMED && !this.isGate(gate)
      ? `process() returned ${String(gate)}: a verdict is a gate (${this.gateList()}), DROP (-1), HOLD (-2) or CONSUMED (-3)`
      : !this.fits(length) ? this.lengthFault('process()', length) : null
    if (fault !== null) {
      this.reclaim(d)
      throw new RangeError(fault)
    }
    const after = this.bytes.slice(at, at + length)
    if (gate === HOLD && this.handedNow >= 0) return outcome(`instance ${this.handedNow}`, after, p.flowHash, d)
    if (gate === HOLD) {
      // Still the NF's, unless it already sent or dropped it through env.packets.
      this.lengths[d] = length
      return outcome('held', after, p.flowHash, d)
    }
    if (!this.owned[d]) {
      throw new Error(`process() returned ${gate === DROP ? 'DROP' : gate === CONSUMED ? 'CONSUMED' : `gate ${gate}`} for descriptor ${d}, which it had already sent or dropped through env.packets (return HOLD for those)`)
    }
    this.release(d)
    if (gate === DROP) {
      this.dropped.push(after)
      return outcome('drop', after, p.flowHash, d)
    }
    if (gate === CONSUMED) return outcome('consumed', after, p.flowHash, d)
    const name = this.nf.gates[gate]
    this.sent.push({ gate: name, frame: after })
    return outcome(name, after, p.flowHash, d)
  }

  /**
   * Gives the NF every frame of a capture in order, the clock following the capture's own
   * time (as `xio-chain replay` runs NFs), and returns each one's outcome.
   */
  async replay(file: string, options: SendOptions = {}): Promise<Outcome[]> {
    const capture = await readPcap(file)
    const outcomes: Outcome[] = []
    for (const record of capture.records) {
      // Exactly as the runner on the captures' time: now() is the packet's timestamp, and
      // tick() runs before a packet once tickMs have passed since the last (so before the first).
      const t = Number(record.timestampNs) / 1e6
      this.clock = t
      if (t - this.replayTick >= this.tickMs) {
        this.replayTick = t
        this.lastTick = t
        this.instance.tick?.(t)
      }
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

  /** A free buffer, now the NF's and full of the marker; -1 if none is free. */
  private take(): number {
    const d = this.free.pop()
    if (d === undefined) return -1
    const start = d * this.stride
    this.bytes.fill(MARKER, start, start + this.stride)
    this.owned[d] = 1
    this.ownedCount++
    return d
  }

  private release(d: number): void {
    this.owned[d] = 0
    this.ownedCount--
    this.free.push(d)
  }

  /** Gives back a buffer the NF may still have after process() failed, so the harness stays usable. */
  private reclaim(d: number): void {
    if (this.owned[d]) this.release(d)
  }

  private checkOwned(d: number, call: string): void {
    if (!(Number.isInteger(d) && d >= 0 && d < this.buffers && this.owned[d])) {
      throw new Error(`${call}: descriptor ${d} is not ${this.label}'s (never given to it or allocated, or already sent or dropped)`)
    }
  }

  private fits(length: number): boolean {
    return Number.isInteger(length) && length >= 0 && length <= this.capacity
  }

  private lengthFault(what: string, length: number): string {
    return `${what}: a packet length of ${String(length)} does not fit a ${this.capacity}-byte buffer`
  }

  private frameIn(d: number, length: number): Uint8Array {
    const at = this.offset(d)
    return this.bytes.slice(at, at + length)
  }

  private isGate(gate: number): boolean {
    return Number.isInteger(gate) && gate >= 0 && gate < this.nf.gates.length
  }

  private gateName(gate: number, call: string): string {
    if (!this.isGate(gate)) throw new RangeError(`${call}: ${String(gate)} is not a gate (${this.gateList()})`)
    return this.nf.gates[gate]
  }

  private gateList(): string {
    return this.nf.gates.map((g, i) => `${i} ${g}`).join(', ')
  }

  private endpoint(name: number | string, option: string): number {
    if (typeof name === 'number') return name
    const id = this.gateIds.get(name) ?? this.options.endpoints?.[name]
    if (id === undefined) throw new Error(`${option}: "${name}" is neither a gate of ${this.label} nor one of options.endpoints`)
    return id
  }
}

function outcome(verdict: string, frame: Uint8Array, flowHash: number, d: number): Outcome {
  return Object.defineProperties({ verdict, frame }, { flowHash: { value: flowHash }, d: { value: d } }) as Outcome
}

/** Builds an NF from its config for a test; throws NFConfigError (naming the field) as `validate` would. */
export function harness<Config>(nf: NFModule<Config>, config: Config, options: HarnessOptions = {}): Harness {
  return new Harness(nf as NFModule<unknown>, config, options)
}

/** The config checked against the NF's own schema, as `validate` does first; throws NFConfigError naming the first field wrong. */
function checkAgainstSchema(nf: NFModule<unknown>, config: unknown): void {
  if (!nf.config) return
  const v = configValidator(nf.config)
  if (v(config ?? {})) return
  const [first] = schemaProblems(v.errors ?? [])
  throw new NFConfigError(first.path || '/', first.message)
}
