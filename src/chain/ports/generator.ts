// generator — synthetic UDP or TCP traffic for demos and benchmarks. One template frame per
// flow is built at start (real headers, real checksums); each packet is a copy of its flow's
// template into a fresh pool buffer, so the hot loop only copies bytes and sets metadata.
// A pump builds up to 8 bursts and puts them on the TX ring with one tx; what the ring
// refuses (the chain is behind) is kept, built, and sent first next time, rather than freed
// and allocated and copied again.
import { buildIpv4Frame, checksumUpdate16, IPPROTO_TCP, IPPROTO_UDP, parseCidr, prefixMask, symmetricFlowHash } from '../../packet/index.ts'
import type { Xio } from '../../xio/index.ts'
import type { GeneratorPort as GeneratorSpec } from '../spec-types.ts'
import { BURST, drainRx, type Port } from './port.ts'

const MAX_TEMPLATE_FLOWS = 4096
// Offsets in the frame of the IPv4 header's identification and checksum (after 14 of Ethernet).
const IP_ID = 14 + 4
const IP_CHECKSUM = 14 + 10
const PUMP_BURSTS = 8

export class GeneratorPort implements Port {
  readonly isSource = true
  private readonly burst = new Uint32Array(BURST)
  /** Fresh buffers, a malloc at a time, before they join `out`. */
  private readonly fresh = new Uint32Array(BURST)
  /**
   * Built frames on their way out, sent with one tx: [0, pending) are the ones the TX ring
   * refused last time (sent first, in order), then this pump's.
   */
  private readonly out = new Uint32Array(BURST * PUMP_BURSTS)
  private pending = 0
  /** One view per flow's template frame, made once so the hot loop allocates nothing. */
  private readonly templates: Uint8Array[] = []
  private readonly hashes: Uint32Array
  /** With `sequence`: each flow's next number, and its template's header checksum (IPv4 id 0). */
  private readonly sequence: Uint16Array | null
  private readonly headerChecksums: Uint16Array
  private readonly flows: number
  private readonly size: number
  private readonly limit: number
  private flow = 0
  private sent = 0
  /** Packets the rate allows now: a token bucket holding at most 10 ms of traffic. */
  private tokens = 0
  private lastMs = -1
  private stopped = false
  backlogged = false

  constructor(readonly name: string, readonly xio: Xio, private readonly spec: GeneratorSpec) {
    this.size = Math.min(spec.size ?? 64, xio.capacity)
    this.flows = Math.min(spec.flows ?? 64, MAX_TEMPLATE_FLOWS)
    this.limit = spec.count ?? Infinity
    const frames = new Uint8Array(this.flows * this.size)
    this.hashes = new Uint32Array(this.flows)
    this.sequence = spec.sequence ? new Uint16Array(this.flows) : null
    this.headerChecksums = new Uint16Array(this.flows)
    const src = parseCidr(spec.src ?? '10.0.0.0/16')!
    const dst = parseCidr(spec.dst ?? '198.51.100.0/24')!
    const proto = spec.proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP
    const hostBits = (c: typeof src) => ~prefixMask(c.prefix) >>> 0
    for (let i = 0; i < this.flows; i++) {
      const s = (src.addr & prefixMask(src.prefix)) | ((i + 1) & hostBits(src))
      const d = (dst.addr & prefixMask(dst.prefix)) | ((i * 7 + 1) & hostBits(dst))
      const srcPort = 1024 + (i % 60000)
      const dstPort = spec.dstPort ?? 80
      buildIpv4Frame(frames, i * this.size, { src: s, dst: d, proto, srcPort, dstPort, size: this.size })
      this.templates.push(frames.subarray(i * this.size, (i + 1) * this.size))
      this.headerChecksums[i] = (frames[i * this.size + IP_CHECKSUM] << 8) | frames[i * this.size + IP_CHECKSUM + 1]
      this.hashes[i] = symmetricFlowHash(s, d, proto, srcPort, dstPort)
    }
  }

  get exhausted(): boolean {
    return this.stopped || this.sent >= this.limit
  }

  readonly wakesOnRx = true

  nextPumpMs(nowMs: number): number {
    if (this.exhausted) return Infinity
    const rate = this.spec.rate
    if (!rate || this.lastMs < 0) return nowMs
    // When the bucket holds one more packet than the frames built and waiting (pump's `due`).
    return this.lastMs + (Math.max(0, this.pending + 1 - this.tokens) / rate) * 1000
  }

  pump(nowMs: number): number {
    let moved = drainRx(this.xio, this.burst, null)
    this.backlogged = false
    if (this.exhausted) return moved
    // Frames built but not yet sent count as sent for the limit and the rate: they already are
    // the next packets.
    let due = Math.min(BURST * PUMP_BURSTS, this.limit - this.sent) - this.pending
    const rate = this.spec.rate
    if (rate) {
      // A stall (a busy event loop, GC) is not made up for with a flood afterwards.
      if (this.lastMs < 0) this.lastMs = nowMs
      this.tokens = Math.min(this.tokens + ((nowMs - this.lastMs) * rate) / 1000, Math.max(BURST, rate / 100))
      this.lastMs = nowMs
      due = Math.min(due, Math.floor(this.tokens) - this.pending)
    }
    let built = this.pending
    while (due > 0 && built < this.out.length) {
      const n = this.xio.malloc(this.fresh, Math.min(BURST, due, this.out.length - built))
      if (!n) break
      for (let i = 0; i < n; i++) this.out[built + i] = this.fresh[i]
      this.build(built, n)
      built += n
      due -= n
    }
    if (!built) return moved
    const sent = this.xio.tx(this.out, built)
    // What the ring refused stays ours, built: it goes first next time, in order.
    this.pending = built - sent
    if (this.pending) {
      this.out.copyWithin(0, sent, built)
      this.backlogged = true
    }
    this.sent += sent
    this.tokens -= sent
    return moved + sent
  }

  /** Fills the n fresh buffers at out[from, from + n) with the next flows' frames. */
  private build(from: number, n: number): void {
    const xio = this.xio
    for (let i = from; i < from + n; i++) {
      const d = this.out[i]
      const at = xio.offset(d)
      xio.bytes.set(this.templates[this.flow], at)
      if (this.sequence) this.number(at)
      xio.setLength(d, this.size)
      xio.setFlowHash(d, this.hashes[this.flow])
      if (++this.flow === this.flows) this.flow = 0
    }
  }

  /** Writes the flow's next number into the frame at `at` (IPv4 id, checksum updated from the template's). */
  private number(at: number): void {
    const b = this.xio.bytes
    const n = this.sequence![this.flow]++
    const check = checksumUpdate16(this.headerChecksums[this.flow], 0, n)
    b[at + IP_ID] = n >>> 8
    b[at + IP_ID + 1] = n & 0xff
    b[at + IP_CHECKSUM] = check >>> 8
    b[at + IP_CHECKSUM + 1] = check & 0xff
  }

  stopSources(): void {
    this.stopped = true
    // Built frames the chain never took are not sent after all: the pool gets them back now,
    // so a drain does not wait for them.
    if (this.pending) this.xio.free(this.out, this.pending)
    this.pending = 0
  }

  close(): void {
    drainRx(this.xio, this.burst, null, Infinity)
    this.xio.detach()
  }

  stats() {
    return { sent: this.sent }
  }
}
