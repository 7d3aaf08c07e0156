// generator — synthetic UDP or TCP traffic for demos and benchmarks. One template frame per
// flow is built at start (real headers, real checksums); each packet is a copy of its flow's
// template into a fresh pool buffer, so the hot loop only copies bytes and sets metadata.
import { buildIpv4Frame, checksumUpdate16, IPPROTO_TCP, IPPROTO_UDP, parseCidr, prefixMask, symmetricFlowHash } from '../../packet/index.ts'
import type { Xio } from '../../xio/index.ts'
import type { GeneratorPort as GeneratorSpec } from '../spec-types.ts'
import { BURST, drainRx, type Port } from './port.ts'

const MAX_TEMPLATE_FLOWS = 4096
// Offsets in the frame of the IPv4 header's identification and checksum (after 14 of Ethernet).
const IP_ID = 14 + 4
const IP_CHECKSUM = 14 + 10

export class GeneratorPort implements Port {
  readonly isSource = true
  private readonly burst = new Uint32Array(BURST)
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
  private readonly discard = () => {}

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

  pump(nowMs: number): number {
    let moved = drainRx(this.xio, this.burst, this.discard)
    if (this.exhausted) return moved
    let due = Math.min(BURST * 8, this.limit - this.sent)
    const rate = this.spec.rate
    if (rate) {
      // A stall (a busy event loop, GC) is not made up for with a flood afterwards.
      if (this.lastMs < 0) this.lastMs = nowMs
      this.tokens = Math.min(this.tokens + ((nowMs - this.lastMs) / 1000) * rate, Math.max(BURST, rate / 100))
      this.lastMs = nowMs
      due = Math.min(due, Math.floor(this.tokens))
    }
    while (due > 0) {
      const n = this.xio.malloc(this.burst, Math.min(BURST, due))
      if (!n) break
      for (let i = 0; i < n; i++) {
        const d = this.burst[i]
        const at = this.xio.offset(d)
        this.xio.bytes.set(this.templates[this.flow], at)
        if (this.sequence) this.number(at)
        this.xio.setLength(d, this.size)
        this.xio.setFlowHash(d, this.hashes[this.flow])
        if (++this.flow === this.flows) this.flow = 0
      }
      const sent = this.xio.tx(this.burst, n)
      if (sent < n) this.xio.free(this.burst.subarray(sent), n - sent)
      this.sent += sent
      this.tokens -= sent
      moved += sent
      due -= sent
      if (sent < n) break
    }
    return moved
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
  }

  close(): void {
    drainRx(this.xio, this.burst, this.discard, Infinity)
    this.xio.detach()
  }

  stats() {
    return { sent: this.sent }
  }
}
