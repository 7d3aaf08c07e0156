// afpacket — a Linux interface as a port. Frames the interface receives enter the chain;
// frames that reach the port are sent on the interface. The work is done by two native
// threads (native/afpacket.h) with one copy each way between the kernel's ring and a pool
// buffer; this side only starts and stops them and publishes their counters into the slot,
// where the dashboard and `top` read them like an NF's.
import { addon, type AfPacketStats, type NativeAfPacket } from '../../xio/native.ts'
import { asXioError } from '../../xio/errors.ts'
import type { Xio } from '../../xio/index.ts'
import type { AfPacketPort as AfPacketSpec } from '../spec-types.ts'
import type { Port } from './port.ts'

const PUBLISH_EVERY_MS = 500

export class AfPacketPort implements Port {
  readonly isSource = true
  private readonly native: NativeAfPacket
  private receiving = true
  private lastPublish = -Infinity
  private final: AfPacketStats | null = null
  private failed = false

  /** Opens the interface; throws XioError (NO_INTERFACE, PERMISSION, MTU_TOO_LARGE...) naming it. */
  constructor(readonly name: string, readonly xio: Xio, private readonly spec: AfPacketSpec, private readonly warn: (message: string) => void) {
    try {
      // Asked first: once the native port runs, nothing here may fail before it is stopped.
      const info = addon.interfaceInfo(spec.interface)
      if (info.gro || info.lro)
        warn(`interface ${spec.interface} aggregates received frames (${info.gro ? 'GRO' : 'LRO'}): frames beyond its MTU will be dropped as oversize; turn it off with: ethtool -K ${spec.interface} gro off lro off`)
      this.native = new addon.AfPacket(xio.nativeEndpoint, {
        interface: spec.interface,
        blockSize: spec.blockSize,
        blocks: spec.blocks,
        blockTimeoutMs: spec.blockTimeoutMs,
        promiscuous: spec.promiscuous,
      })
    } catch (e) {
      throw asXioError(e)
    }
  }

  get exhausted(): boolean {
    return !this.receiving
  }

  // Its threads take what reaches it.
  readonly wakesOnRx = false

  nextPumpMs(): number {
    return this.lastPublish + PUBLISH_EVERY_MS
  }

  // The threads move the packets; pumping only publishes what they counted, and says once if
  // one of them stopped early.
  pump(nowMs: number): number {
    if (nowMs - this.lastPublish >= PUBLISH_EVERY_MS) {
      this.publish()
      this.lastPublish = nowMs
      const failure = this.failed ? null : this.native.failure()
      if (failure) {
        this.failed = true
        this.warn(`port ${this.name} (${this.spec.interface}) stopped moving packets: ${failure}`)
      }
    }
    return 0
  }

  private publish(): void {
    this.xio.region.publishNfCounters(this.xio.slot, this.stats())
  }

  stopSources(): void {
    if (!this.receiving) return
    this.receiving = false
    this.native.stopReceiving()
  }

  close(): void {
    try {
      this.native.stop()
      this.final = this.native.stats()
      this.publish()
    } finally {
      this.xio.detach()
    }
  }

  stats(): Record<string, number> {
    return { ...(this.final ?? this.native.stats()) }
  }
}
