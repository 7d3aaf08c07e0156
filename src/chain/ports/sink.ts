// sink — counts what reaches it and frees it (the manager counts packets and bytes).
import type { Xio } from '../../xio/index.ts'
import { BURST, drainRx, type Port } from './port.ts'

export class SinkPort implements Port {
  readonly isSource = false
  readonly exhausted = true
  private readonly burst = new Uint32Array(BURST)
  private received = 0
  private readonly count = () => this.received++

  constructor(readonly name: string, readonly xio: Xio) {}

  pump(): number {
    return drainRx(this.xio, this.burst, this.count)
  }

  stopSources(): void {}

  close(): void {
    this.xio.detach()
  }

  stats() {
    return { received: this.received }
  }
}
