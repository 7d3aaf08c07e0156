// A chain environment for NF tests: named endpoints, wired gates, a clock the test moves,
// and optionally a pool (TestPool) for NFs that hold packets or make their own.

import { DROP, HOLD, type NFEnv, type NFInstance, type Packet, type PacketOut } from '../../src/xio/nf-types.ts'
import { Headers, parse } from '../../src/packet/index.ts'

export class TestEnv implements NFEnv {
  time = 1_000_000
  constructor(
    private readonly endpoints: Record<string, number> = {},
    private readonly gates: Record<string, number> = {},
    readonly packets?: PacketOut,
  ) {}
  endpointId(name: string): number {
    return this.endpoints[name] ?? -1
  }
  gateTarget(gate: string): number {
    return this.gates[gate] ?? -1
  }
  now(): number {
    return this.time
  }
}

/** Parses a packet's frame (for assertions). */
export function headersOf(p: Packet): Headers {
  const h = new Headers()
  parse(p.bytes, p.at, p.length, h)
  return h
}

/** A packet sent with PacketOut.send: its descriptor, gate and the frame as it left. */
export interface Sent {
  d: number
  gate: number
  frame: Uint8Array
}

/**
 * The runner's side of PacketOut, in memory: buffers of SIZE bytes in one Uint8Array, as the
 * region's are, handed to the NF one at a time through one reused Packet (as runNF does, so
 * an NF that keeps the object instead of its numbers is caught). It records what the NF
 * sends and drops, and refuses a descriptor that is not the NF's to send (never given, or
 * already sent or dropped). Freed buffers are reused last-in first-out, so a packet the NF
 * forgot it gave back is overwritten at once.
 */
export class TestPool implements PacketOut {
  static readonly SIZE = 2048
  /** Room before each frame, as the region leaves headroom. */
  static readonly HEADROOM = 128
  readonly bytes: Uint8Array
  readonly view: DataView
  /** Buffers the NF has: held, or allocated and not yet sent. */
  readonly owned = new Set<number>()
  readonly sent: Sent[] = []
  readonly dropped: number[] = []
  private readonly free: number[] = []
  private readonly p: Packet

  constructor(readonly buffers = 64) {
    this.bytes = new Uint8Array(buffers * TestPool.SIZE)
    this.view = new DataView(this.bytes.buffer)
    for (let d = buffers - 1; d >= 0; d--) this.free.push(d)
    this.p = { bytes: this.bytes, view: this.view, d: 0, at: 0, length: 0, from: 0, inPort: 0, flowHash: 0 }
  }

  offset(d: number): number {
    return d * TestPool.SIZE + TestPool.HEADROOM
  }

  /** Buffers neither free nor the NF's: none once every process() answer was dealt with. */
  get inFlight(): number {
    return this.buffers - this.free.length - this.owned.size
  }

  alloc(): Packet | null {
    const d = this.take()
    if (d < 0) return null
    this.owned.add(d)
    return { bytes: this.bytes, view: this.view, d, at: this.offset(d), length: 0, from: -1, inPort: -1, flowHash: 0 }
  }

  send(d: number, gate: number, length: number): void {
    this.giveBack(d, 'send')
    const at = this.offset(d)
    this.sent.push({ d, gate, frame: this.bytes.slice(at, at + length) })
  }

  drop(d: number): void {
    this.giveBack(d, 'drop')
    this.dropped.push(d)
  }

  /**
   * Hands a frame to the NF from endpoint `from` as runNF does, and deals with its answer:
   * HOLD leaves the buffer the NF's (unless it sent or dropped it already), a gate or DROP
   * returns it to the pool. The frame as it left (or was dropped) and the flow hash are returned.
   */
  process(nf: NFInstance, frame: Uint8Array, from: number, inPort = from): { gate: number; frame: Uint8Array; flowHash: number; d: number } {
    const d = this.take()
    if (d < 0) throw new Error('the test pool is empty: the NF holds too much, or a test leaks')
    const at = this.offset(d)
    if (frame.length > TestPool.SIZE - TestPool.HEADROOM) throw new Error('frame larger than a test buffer')
    this.bytes.fill(0xee, at - TestPool.HEADROOM, at - TestPool.HEADROOM + TestPool.SIZE)
    this.bytes.set(frame, at)
    const p = this.p
    p.d = d
    p.at = at
    p.length = frame.length
    p.from = from
    p.inPort = inPort
    p.flowHash = 0
    // The packet is the NF's while process() decides: it may send or drop it itself and return HOLD.
    this.owned.add(d)
    const gate = nf.process(p)
    const out = { gate, frame: this.bytes.slice(at, at + p.length), flowHash: p.flowHash, d }
    if (gate !== HOLD) {
      if (gate !== DROP && gate < 0) throw new Error(`process() returned ${gate}: neither a gate, DROP nor HOLD`)
      if (!this.owned.has(d)) throw new Error(`process() returned ${gate} for descriptor ${d}, which it had already sent or dropped`)
      this.owned.delete(d)
      this.free.push(d)
    }
    return out
  }

  private take(): number {
    return this.free.length ? this.free.pop()! : -1
  }

  private giveBack(d: number, what: string): void {
    if (!this.owned.has(d)) throw new Error(`${what}(${d}): descriptor ${d} is not the NF's (never held or allocated, or already sent or dropped)`)
    this.owned.delete(d)
    this.free.push(d)
  }
}
