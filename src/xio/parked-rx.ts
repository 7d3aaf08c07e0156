// What an NF process reads off its RX ring while a send of its own has waited too long for
// room. A process that waits for TX room without reading its RX ring can deadlock with a peer
// that does the same: a placement group with an NF outside it between two of its members
// (fw -> ids -> nat, fw and nat grouped) sends to that NF and receives from it, and once both
// TX rings are full the manager holds each one's packets for the other's full RX ring, for
// ever. Reading the RX ring meanwhile lets the manager deliver what it holds, and the other
// side drains; the packets read wait here, in order, and are decided before anything newer.
//
// It is a way out of a stall, not a queue: a send that merely goes slowly (a slow receiver
// downstream) keeps its backpressure on the RX ring, as before (ParkedRx.AFTER_MS).
import type { Xio } from './xio.ts'

export class ParkedRx {
  /** A send that has moved nothing for this long parks what arrives meanwhile. */
  static readonly AFTER_MS = 1
  // Room for every buffer of the pool: each is here at most once, since this process holds it.
  private readonly parked: Uint32Array
  private readonly scratch: Uint32Array
  private from = 0
  private to = 0

  constructor(private readonly xio: Xio, burst: number) {
    this.parked = new Uint32Array(xio.region.bufferCount)
    this.scratch = new Uint32Array(burst)
  }

  get count(): number {
    return this.to - this.from
  }

  /** Reads one burst off the RX ring into the store; returns how many. */
  park(): number {
    if (this.to + this.scratch.length > this.parked.length) {
      this.parked.copyWithin(0, this.from, this.to)
      this.to -= this.from
      this.from = 0
      // Only when this process holds nearly the whole pool: nothing is left to deliver to it.
      if (this.to + this.scratch.length > this.parked.length) return 0
    }
    const k = this.xio.rx(this.scratch)
    for (let i = 0; i < k; i++) this.parked[this.to++] = this.scratch[i]
    return k
  }

  /** Moves up to descs.length parked packets, oldest first, into descs; returns how many. */
  take(descs: Uint32Array): number {
    const n = Math.min(descs.length, this.to - this.from)
    for (let i = 0; i < n; i++) descs[i] = this.parked[this.from + i]
    this.from += n
    if (this.from === this.to) this.from = this.to = 0
    return n
  }
}
