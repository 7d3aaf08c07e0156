// pcap — replays a capture into the chain and/or writes what reaches it to a capture.
//
// Input frames are copied once into pool buffers, with their capture time in the metadata
// and a symmetric flow hash (so a flow and its replies meet the same NF instance); output
// frames are written byte for byte, stamped with the time they reached the port (a replay:
// the time they came in with). Speed: "top" (as
// fast as the chain takes them), "timed" (the capture's own gaps) or packets per second.
import { Headers, parse, symmetricFlowHashOf } from '../../packet/index.ts'
import type { Xio } from '../../xio/index.ts'
import type { PcapPort as PcapSpec } from '../spec-types.ts'
import { PcapWriter, type PcapRecord } from '../pcap.ts'
import { BURST, drainRx, type Port } from './port.ts'

/** The wall clock in ns, to the µs. */
const wallClockNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n

export class PcapPort implements Port {
  readonly isSource: boolean
  private readonly burst = new Uint32Array(BURST)
  private readonly headers = new Headers()
  private readonly writer: PcapWriter | null
  private next = 0
  private pass = 0
  private startedAt = -1
  private sent = 0
  private stopped = false
  private written = 0
  private oversize = 0
  // In a run, a frame is stamped with when it reached this port, as tcpdump stamps what it
  // sees (a looped capture's times would go back at each pass); in a replay, with the time it
  // came in with, the capture's, so that a replay writes the same bytes every time.
  private readonly write = (d: number) => {
    this.writer!.write(this.xio.bytes, this.xio.offset(d), this.xio.length(d), (this.selfPaced ? 0n : this.xio.timestamp(d)) || wallClockNs())
    this.written++
  }

  constructor(
    readonly name: string,
    readonly xio: Xio,
    private readonly spec: PcapSpec,
    private readonly records: PcapRecord[],
    /** Whether it has an input capture at all: an empty one is a source of zero packets. */
    hasInput: boolean,
    outputFile: string | null,
    /** False when a replayer decides what goes in when (inject); pump then only drains. */
    private readonly selfPaced = true,
    /** Records the port this one replaces wrote to the same output, which this one goes on after. */
    writtenBefore?: number,
  ) {
    this.isSource = hasInput
    this.writer = outputFile ? new PcapWriter(outputFile, undefined, undefined, writtenBefore !== undefined) : null
    this.written = writtenBefore ?? 0
  }

  /** Its output capture and the records in it, for a port that replaces this one to go on after. */
  get output(): { file: string; written: number } | null {
    return this.writer && { file: this.writer.file, written: this.written }
  }

  get exhausted(): boolean {
    return this.stopped || !this.isSource || this.next >= this.records.length
  }

  get loops(): number {
    return this.spec.loop ?? 1
  }

  /** The last pump's records were due and the TX ring took fewer (Port.backlogged). */
  backlogged = false

  pump(nowMs: number): number {
    let moved = drainRx(this.xio, this.burst, this.writer ? this.write : null)
    this.backlogged = false
    if (this.selfPaced && !this.exhausted) {
      const due = this.due(nowMs)
      const sent = this.inject(due)
      this.backlogged = sent < due && !this.exhausted
      moved += sent
    }
    return moved
  }

  readonly wakesOnRx = true

  nextPumpMs(nowMs: number): number {
    if (!this.selfPaced || this.exhausted) return Infinity
    const speed = this.spec.speed ?? 'top'
    if (speed === 'top' || this.startedAt < 0) return nowMs
    // When due() lets the next record go.
    if (speed === 'timed') return this.startedAt + this.passOffsetMs() + Number(this.nextTime() - this.records[0].timestampNs) / 1e6
    return this.startedAt + ((this.sent + 1) / speed) * 1000
  }

  // How many records the speed setting allows by now.
  private due(nowMs: number): number {
    if (this.startedAt < 0) this.startedAt = nowMs
    const speed = this.spec.speed ?? 'top'
    if (speed === 'top') return BURST * 4
    const elapsedMs = nowMs - this.startedAt
    if (speed === 'timed') {
      const first = this.records[0].timestampNs
      let n = 0
      while (this.next + n < this.records.length && n < BURST * 4 &&
             Number(this.records[this.next + n].timestampNs - first) / 1e6 <= elapsedMs - this.passOffsetMs()) n++
      return n
    }
    return Math.min(BURST * 4, Math.floor((elapsedMs / 1000) * speed) - this.sent)
  }

  // In timed mode every pass starts where the previous one's last gap ended.
  private passOffsetMs(): number {
    if (!this.pass) return 0
    const span = Number(this.records[this.records.length - 1].timestampNs - this.records[0].timestampNs) / 1e6
    return this.pass * (span + 1)
  }

  /** Capture time of the next record to send. */
  nextTime(): bigint {
    return this.records[this.next].timestampNs
  }

  /** How many of the next records (at least 1, at most max) were captured by `limit` (null: no limit). */
  countBefore(limit: bigint | null, max: number): number {
    let n = 0
    while (n < max && this.next + n < this.records.length && (limit === null || this.records[this.next + n].timestampNs <= limit)) n++
    return Math.max(n, 1)
  }

  /** Puts up to `max` next records into the chain; returns how many went. */
  inject(max: number): number {
    let moved = 0
    while (moved < max && !this.exhausted) {
      const want = Math.min(BURST, max - moved, this.records.length - this.next)
      const n = this.xio.malloc(this.burst, want)
      if (!n) break
      for (let i = 0; i < n; i++) this.fill(this.burst[i], this.records[this.next + i])
      let sent = this.xio.tx(this.burst, n)
      // What the TX ring refused is still ours: give it back and resend those records later.
      if (sent < n) this.xio.free(this.burst.subarray(sent), n - sent)
      this.next += sent
      this.sent += sent
      moved += sent
      if (this.next >= this.records.length) {
        this.pass++
        if (this.loops === 0 || this.pass < this.loops) this.next = 0
      }
      if (sent < n) break
    }
    return moved
  }

  private fill(d: number, r: PcapRecord): void {
    const length = Math.min(r.data.length, this.xio.capacity)
    if (length < r.data.length) this.oversize++
    const at = this.xio.offset(d)
    this.xio.bytes.set(length < r.data.length ? r.data.subarray(0, length) : r.data, at)
    this.xio.setLength(d, length)
    this.xio.setTimestamp(d, r.timestampNs)
    const h = this.headers
    this.xio.setFlowHash(d, parse(this.xio.bytes, at, length, h) === 0 ? symmetricFlowHashOf(h) : 0)
  }

  stopSources(): void {
    this.stopped = true
  }

  close(): void {
    try {
      drainRx(this.xio, this.burst, this.writer ? this.write : null, Infinity)
      this.writer?.close()
      if (this.writer?.failure) throw this.writer.failure
    } finally {
      this.xio.detach()
    }
  }

  stats(): Record<string, string | number> {
    const stats: Record<string, string | number> = { sent: this.sent, written: this.written, oversize: this.oversize }
    if (this.writer?.lost) stats.lost = this.writer.lost
    if (this.writer) stats.output = this.writer.file
    return stats
  }
}
