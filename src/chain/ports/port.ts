// A port brings packets into the chain or takes them out. Ports run in the launcher's
// process, each attached as an endpoint of its own, so their counters are in the region like
// any NF's. The launcher calls pump() in turns; no port blocks.
import type { Xio } from '../../xio/index.ts'

export interface Port {
  readonly name: string
  readonly xio: Xio
  /** Whether it brings packets in (pcap with an input, generator). */
  readonly isSource: boolean
  /** A source with nothing left to send. */
  readonly exhausted: boolean
  /**
   * After pump(): a source had packets due that the chain did not take (its TX ring was full).
   * The chain is loaded, not idle: the launcher retries at once instead of backing off.
   */
  readonly backlogged?: boolean
  /** Does a bounded amount of work (a few bursts) and returns how many packets it moved. */
  pump(nowMs: number): number
  /**
   * Whether packets reaching the port wake the launcher's pump, which may then sleep on its
   * RX ring (RxWaiter) while nothing is due: all but a port whose native threads take them.
   */
  readonly wakesOnRx: boolean
  /**
   * At rest (its last pump moved nothing): when it next needs a pump if no packet reaches it,
   * on pump()'s clock. A paced source's next packet, a periodic publication; nowMs: as soon as
   * the pump likes (it backs off); Infinity: only when packets reach it.
   */
  nextPumpMs(nowMs: number): number
  /**
   * A port that takes packets out of the chain (sink): waits, blocking this thread at most
   * timeoutMs, until packets reach it, takes them as pump() does, and returns how many.
   */
  pumpWhenReadable?(timeoutMs: number): number
  /** A port that writes a capture: the file, and the records written to it so far. */
  readonly output?: { file: string; written: number } | null
  /** Stops bringing packets in (outputs keep draining until close). */
  stopSources(): void
  /** Flushes outputs and leaves the chain. */
  close(): void
  /** Port-specific totals for stats and --json. */
  stats(): Record<string, number | string>
}

export const BURST = 32

/**
 * Receives what reached a port: hands each frame to `take`, then frees the burst. With no
 * `take` the frames are discarded, their buffers never touched (Xio.discard).
 */
export function drainRx(xio: Xio, burst: Uint32Array, take: ((d: number) => void) | null, maxBursts = 8): number {
  let moved = 0
  for (let i = 0; i < maxBursts; i++) {
    const n = take === null ? xio.discard(burst) : xio.rx(burst)
    if (!n) break
    if (take !== null) {
      for (let k = 0; k < n; k++) take(burst[k])
      xio.free(burst, n)
    }
    moved += n
  }
  return moved
}
