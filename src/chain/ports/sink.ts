// sink — counts what reaches it and frees it (the manager counts packets and bytes).
import type { Xio } from '../../xio/index.ts'
import { BURST, type Port } from './port.ts'

// Bursts one pump takes at most, as drainRx's default. The sink looks at no packet, so it takes
// them all in one discard: one call per pump, not per 32 packets, and no buffer touched.
const MAX_BURSTS = 8

export class SinkPort implements Port {
  readonly isSource = false
  readonly exhausted = true
  private readonly burst = new Uint32Array(BURST * MAX_BURSTS)
  private received = 0

  constructor(readonly name: string, readonly xio: Xio) {}

  pump(): number {
    const n = this.xio.discard(this.burst)
    this.received += n
    return n
  }

  readonly wakesOnRx = true

  nextPumpMs(): number {
    return Infinity
  }

  pumpWhenReadable(timeoutMs: number): number {
    return this.take(this.xio.rxWait(this.burst, timeoutMs))
  }

  private take(n: number): number {
    if (n) this.xio.free(this.burst, n)
    this.received += n
    return n
  }

  stopSources(): void {}

  close(): void {
    this.xio.detach()
  }

  stats() {
    return { received: this.received }
  }
}
