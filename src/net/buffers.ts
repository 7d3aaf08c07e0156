// Where the socket stack gets pool buffers: a small cache of its own in front of the endpoint's
// alloc ring (which the manager keeps filled), so a burst of writes costs a few malloc calls,
// not one per buffer, and never a wait on the event loop for long.
import type { Xio } from '../xio/xio.ts'
import type { Layout } from '../xio/native.ts'

const SIZE = 64
/** How long a write waits, in place, for the manager to refill an empty alloc ring. */
const REFILL_WAIT_MS = 0.5

export class BufferCache {
  private readonly cache = new Uint32Array(SIZE)
  private head = 0
  private count = 0
  private usedThisTick = 0
  private usedLastTick = 1
  /** u32 indices of the alloc ring's head (the manager's) and tail (ours): what it holds now. */
  private readonly u32: Uint32Array
  private readonly allocHead: number
  private readonly allocTail: number

  constructor(private readonly xio: Xio, layout: Layout, private readonly yieldCpu: () => void) {
    const sides = xio.region.ringSides(xio.slot, 'alloc')
    this.u32 = xio.region.u32
    this.allocHead = (sides.producer + layout.ringProducer.head) >>> 2
    this.allocTail = (sides.consumer + layout.ringConsumer.tail) >>> 2
  }

  private ready(): number {
    return (this.u32[this.allocHead] - this.u32[this.allocTail]) >>> 0
  }

  /** A buffer, or -1 if none is to be had now (the caller retries later). `wanted`: how many the write in hand needs. */
  take(wanted: number): number {
    if (this.head === this.count) {
      // Never more than the alloc ring holds now: malloc would wait up to 2 ms for the manager
      // (blocking the event loop) for the rest.
      let ready = this.ready()
      if (!ready) {
        this.xio.malloc(this.cache, 0)  // takes nothing, waits for nothing: rings the manager to refill
        // A manager at work refills within microseconds: look a little while (a burst of
        // writes larger than the ring then goes on in this tick) before leaving it to a retry,
        // giving the core away between looks: on a machine of few cores the manager may need it.
        const until = performance.now() + REFILL_WAIT_MS
        while (!(ready = this.ready()) && performance.now() < until) this.yieldCpu()
        if (!ready) return -1
      }
      this.head = 0
      // As many as this tick is likely to use (what the last busy one used); what is left
      // goes back once the process is idle (giveBack).
      this.count = this.xio.malloc(this.cache, Math.max(1, Math.min(Math.max(wanted, this.usedLastTick), ready, SIZE)))
      if (!this.count) return -1
    }
    this.usedThisTick++
    return this.cache[this.head++]
  }

  /** The end of a tick: what it used guides the next refill. */
  endTick(): void {
    if (this.usedThisTick) this.usedLastTick = this.usedThisTick
    this.usedThisTick = 0
  }

  /** Buffers taken and not used go back (the process goes idle): at rest it holds none, so a chain drains to zero in use. */
  giveBack(): void {
    if (this.head === this.count) return
    this.xio.free(this.cache.subarray(this.head, this.count))
    this.head = this.count = 0
  }

  /** One buffer taken and not to be sent (a lent one whose socket closed, a write cut short by a reset) goes back. */
  release(d: number): void {
    this.xio.free(Uint32Array.of(d))
  }
}
