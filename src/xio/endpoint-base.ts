// What every endpoint of a chain has, whatever it does with packets: its slot in the region,
// its RX ring (a burst at once, waiting on a futex or off the event loop), giving buffers back,
// and reading a buffer's metadata. Xio (an NF or port: malloc, tx, send...) and Capture (copies
// of what taps see) are both one.
import { asXioError } from './errors.ts'
import { addon, layout, type NativeEndpoint, type NativeRegion } from './native.ts'
import { managerHere } from './manager.ts'
import { RegionView } from './region-view.ts'
import { add64, EndpointRings } from './rings.ts'

const M = layout.meta
const FAULTED = layout.slotState.faulted
/** Bytes of a traced packet's metadata (Meta::user) where its NF's runner notes why. */
export const TRACE_NOTE_BYTES = 32
const decoder = new TextDecoder()

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
  /** The last descs array ringsFor let through (see there); at first one no caller holds. */
  private checkedDescs: Uint32Array = new Uint32Array(0)
  private readonly warmed = new Int32Array(1)
  /**
   * The rings' JavaScript side, which serves rx, tx, malloc and free without a native call;
   * null once detached or handed to native threads (then every call goes to the native side,
   * which refuses it with the reason).
   */
  protected fast: EndpointRings | null
  private readonly slotState: number
  /** Word index of this endpoint's `decided` counter (EndpointCounters). */
  private readonly decidedWord: number
  private readonly spinMs: number
  /**
   * The manager's assistId when it runs in this process (else -1): rxWait's polls on its CPU
   * then make its passes, rather than hand the CPU to its thread and wait to get it back.
   */
  private readonly managerHere: number

  /** assistManager: see AttachOptions (xio.ts). */
  constructor(readonly prefix: string, protected readonly native: NativeRegion, protected readonly endpoint: NativeEndpoint, assistManager = true) {
    this.region = new RegionView(prefix, native.buffer())
    this.bytes = this.region.bytes
    this.view = this.region.view
    this.u32 = this.region.u32
    this.u16 = this.region.u16
    this.base = this.region.bufferBase
    this.stride = this.region.bufferStride
    this.data = this.region.dataOffset
    this.room = this.region.bufferSize - this.data
    this.slot = endpoint.slot
    this.fast = new EndpointRings(this.region, this.slot, endpoint.service, endpoint)
    this.slotState = (this.region.managerSideOffset(this.slot) + layout.managerSide.state) >>> 2
    this.decidedWord = (this.region.slotOffset(this.slot) + layout.endpointSide.counters + layout.endpointCounters.decided) >>> 2
    this.spinMs = endpoint.spinUs / 1000
    this.managerHere = assistManager ? managerHere(prefix) : -1
  }

  /**
   * Counts a packet its NF decided, in the slot where the launcher reads it: a process that
   * decides none for seconds while packets wait for it is hung (src/chain/launcher.ts).
   */
  countDecided(): void {
    add64(this.u32, this.decidedWord, 1)
  }

  /**
   * Between two polls of rxWait's spin: a manager pass where that helps, else the CPU given
   * away once. True if the wait should spin no more (assistManager says why).
   */
  private waitTurn(): boolean {
    if (this.managerHere >= 0) return addon.assistManager(this.managerHere)
    addon.schedYield()
    return false
  }

  /**
   * The JavaScript rings if they may serve a call with descs now: attached, not cut off by the
   * manager, and descs a Uint32Array of the caller's own (a view of the region could alias the
   * rings). Otherwise null, and the native side answers, or throws why not.
   */
  protected ringsFor(descs: Uint32Array): EndpointRings | null {
    if (this.fast === null || this.u32[this.slotState] === FAULTED) return null
    // A typed array views one buffer for life: the array that passed last time passes again,
    // without reading .buffer (a runtime call for small arrays) on every burst.
    if (descs === this.checkedDescs) return this.fast
    if (!(descs instanceof Uint32Array) || descs.buffer === this.region.buffer) return null
    this.checkedDescs = descs
    return this.fast
  }

  /** xio_rx: takes a burst from this endpoint's RX ring into descs; returns how many. */
  rx(descs: Uint32Array): number {
    const rings = this.ringsFor(descs)
    if (rings !== null) return rings.rx(descs)
    try {
      return this.endpoint.rx(descs)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /**
   * Takes up to descs.length packets from the RX ring and gives them straight back to the pool,
   * never touching their buffers: for an endpoint that looks at nothing it receives (a sink).
   * rx writes each buffer's metadata from its entry, which nothing here would read; the
   * manager has counted their packets and bytes already. Returns how many.
   */
  discard(descs: Uint32Array): number {
    const rings = this.ringsFor(descs)
    const n = rings !== null ? rings.rx(descs, false) : this.rx(descs)
    if (n) this.free(descs, n)
    return n
  }

  /** Gives descs[0, n) back to the pool. */
  free(descs: Uint32Array, n: number = descs.length): void {
    const rings = this.ringsFor(descs)
    if (rings !== null) return rings.free(descs, burstCount(descs, n))
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
    const rings = this.ringsFor(descs)
    if (rings !== null) {
      // Polled here, as the native side would: a burst that comes meanwhile is taken with no
      // native call for it (~200 ns with a typed array), only the yields between polls are.
      let n = rings.rx(descs)
      if (n !== 0) return n
      // Whether the spin below makes the manager's passes (where its CPU is this thread's).
      const assisting = this.managerHere >= 0 && this.spinMs > 0 && timeoutMs > 0
      let left = 0 // of timeoutMs, once the spin ran out: then this wait goes on to sleep
      try {
        // The first yield comes before any clock read: a process that sends and then waits here
        // (a ping-pong) hands its CPU to the peer sharing it at once, and each performance.now()
        // (~50 ns here) before that yield would be latency added to the hand-over. Only when the
        // wait outlasts the spin: that yield goes uncounted, and the spin's last one may pass its
        // end, so a shorter wait could overrun timeoutMs by two yields instead of one.
        let spinNoMore = false
        if (this.spinMs > 0 && timeoutMs > this.spinMs) {
          spinNoMore = this.waitTurn()
          if ((n = rings.rx(descs)) !== 0) return n
        }
        const start = performance.now()
        const spinEnd = start + Math.min(this.spinMs, timeoutMs)
        while (!spinNoMore && performance.now() < spinEnd) {
          spinNoMore = this.waitTurn()
          if ((n = rings.rx(descs)) !== 0) return n
        }
        left = timeoutMs - (performance.now() - start)
      } finally {
        // However the spin ended, the manager's thread (if its passes were made here) comes
        // back: woken at once if this wait goes on to sleep, as nothing polls meanwhile.
        if (assisting) addon.endAssist(this.managerHere, left > 0)
      }
      if (left <= 0) return 0
      try {
        return this.endpoint.rxWait(descs, left, false)
      } catch (e) {
        throw asXioError(e)
      }
    }
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

  /** This endpoint's native side, to wait on with others at once (RxWaiter). */
  get waitable(): NativeEndpoint {
    return this.endpoint
  }

  /**
   * Reads the first cache line of each of descs[0, n) (a packet's headers) in one pass before
   * any is decided. Packets handed over from another CPU miss this CPU's cache; here the
   * misses are independent loads in flight together, where process() would take them one
   * packet at a time, each stalling its parse (DPDK prefetches a burst ahead for this).
   */
  warmHeaders(descs: Uint32Array, n: number): void {
    const bytes = this.bytes
    let sum = 0
    for (let i = 0; i < n; i++) sum = (sum + bytes[this.base + descs[i] * this.stride + this.data]) | 0
    this.warmed[0] = sum // a use, so the loads are kept
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

  /**
   * A traced packet: why the last NF to decide it did what it did, as its runner noted (empty
   * for none, or a port). On a trace's copy, its sender's note.
   */
  traceNote(d: number): string {
    const at = this.base + d * this.stride + M.user
    const raw = this.bytes.subarray(at, at + TRACE_NOTE_BYTES)
    const end = raw.indexOf(0)
    return decoder.decode(end < 0 ? raw : raw.subarray(0, end))
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
    this.fast = null
    this.endpoint.detach()
  }

}

/** A burst's count as the native side takes it: at most the array's length, a bad count as none. */
export function burstCount(descs: Uint32Array, n: number): number {
  return n >= descs.length ? descs.length : n > 0 ? n >>> 0 : 0
}
