// What every endpoint of a chain has, whatever it does with packets: its slot in the region,
// its RX ring (a burst at once, waiting on a futex or off the event loop), giving buffers back,
// and reading a buffer's metadata. Xio (an NF or port: malloc, tx, send...) and Capture (copies
// of what taps see) are both one.
import { asXioError } from './errors.ts'
import { layout, type NativeEndpoint, type NativeRegion } from './native.ts'
import { RegionView } from './region-view.ts'

const M = layout.meta

export class EndpointBase {
  /** The whole region, bytes: a frame is bytes[offset(d), offset(d) + length(d)). */
  readonly bytes: Uint8Array
  readonly view: DataView
  readonly region: RegionView
  readonly slot: number
  protected readonly u32: Uint32Array
  protected readonly u16: Uint16Array
  protected readonly base: number
  protected readonly stride: number
  protected readonly data: number
  protected readonly room: number
  private pendingReadable: Promise<void> | null = null

  constructor(readonly prefix: string, protected readonly native: NativeRegion, protected readonly endpoint: NativeEndpoint) {
    this.region = new RegionView(prefix, native.buffer())
    this.bytes = this.region.bytes
    this.view = this.region.view
    this.u32 = this.region.u32
    this.u16 = this.region.u16
    this.base = this.region.bufferBase
    this.stride = this.region.bufferSize
    this.data = this.region.dataOffset
    this.room = this.stride - this.data
    this.slot = endpoint.slot
  }

  /** xio_rx: takes a burst from this endpoint's RX ring into descs; returns how many. */
  rx(descs: Uint32Array): number {
    try {
      return this.endpoint.rx(descs)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /** Gives descs[0, n) back to the pool. */
  free(descs: Uint32Array, n: number = descs.length): void {
    try {
      this.endpoint.free(descs, n)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /**
   * rx that polls briefly, then sleeps on a futex until the manager delivers or timeoutMs
   * passes. It blocks this thread: for NF loops, which have nothing else to do meanwhile.
   */
  rxWait(descs: Uint32Array, timeoutMs: number): number {
    try {
      return this.endpoint.rxWait(descs, timeoutMs)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /**
   * Resolves when the RX ring has work, waiting off the event loop (on a pool thread). Calls
   * made while one wait is pending share it, so waiters never pile up on libuv's threads.
   */
  readable(): Promise<void> {
    this.pendingReadable ??= this.endpoint.readable().then(
      () => {
        this.pendingReadable = null
      },
      (e: unknown) => {
        this.pendingReadable = null
        throw asXioError(e)
      },
    )
    return this.pendingReadable
  }

  /** Offset in `bytes` of the first packet byte of descriptor d. */
  offset(d: number): number {
    return this.base + d * this.stride + this.data
  }

  /**
   * Packet bytes in d, never more than a buffer holds: the manager refuses an over-long packet
   * at TX, and a length scribbled on later must not send a reader into the next buffer.
   */
  length(d: number): number {
    return Math.min(this.u32[(this.base + d * this.stride + M.length) >>> 2], this.room)
  }

  flowHash(d: number): number {
    return this.u32[(this.base + d * this.stride + M.flowHash) >>> 2]
  }

  /** Endpoint id of the port the packet entered the chain through. */
  inPort(d: number): number {
    return this.u16[(this.base + d * this.stride + M.inPort) >>> 1]
  }

  /** Endpoint id that sent the packet to this endpoint. */
  from(d: number): number {
    return this.u16[(this.base + d * this.stride + M.prev) >>> 1]
  }

  /** Capture or creation time in ns (0 if never set). */
  timestamp(d: number): bigint {
    return this.view.getBigUint64(this.base + d * this.stride + M.timestamp, true)
  }

  /** Whether the manager that owns the region still runs. */
  managerAlive(): boolean {
    return this.native.managerAlive()
  }

  /** Leaves the chain: the manager takes back every buffer this endpoint still holds. */
  detach(): void {
    this.endpoint.detach()
  }

}
