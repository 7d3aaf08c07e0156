// sink — counts what reaches it and frees it (the manager counts packets and bytes).
import type { Xio } from '../../xio/index.ts'
import { BURST, type Port } from './port.ts'

// Bursts one pump takes at most, as drainRx's default. The sink looks at no packet, so it takes
// them all in one rx and gives them back in one free: one of each per pump, not per 32 packets,
// and no call per packet.
const MAX_BURSTS = 8

export class SinkPort implements Port {
  readonly isSource = false
  readonly exhausted = true
  private readonly burst = new Uint32Array(BURST * MAX_BURSTS)
  private received = 0

  constructor(readonly name: string, readonly xio: Xio) {}

  pump(): number {
    return this.take(this.xio.rx(this.burst))
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
