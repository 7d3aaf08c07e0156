// The NFs' JS processing cost per packet, with no IPC in the loop: realistic frames
// (Ethernet + IPv4 + TCP/UDP, 64 to 1500 bytes, over thousands of flows) laid out in one big
// buffer like the pool's 2 KiB buffers, fed to process() in bursts of 32 through one reused
// Packet, as the runner does. Targets on the reference machine: l2fwd <= 25 ns/packet,
// firewall <= 80 ns at 100 rules and <= 150 ns at 10,000, NAT <= 120 ns for established flows.
//
// Standalone: node --import tsx -e "import('./bench/nfs.ts').then(async m => {
//   const {Report} = await import('./bench/report.ts'); await m.run(new Report()) })"

import type { Report } from './report.ts'
import type { NFEnv, Packet } from '../src/xio/nf-types.ts'
import l2fwd from '../src/nfs/l2fwd/index.ts'
import firewall, { type FirewallRule } from '../src/nfs/firewall/index.ts'
import nat from '../src/nfs/nat/index.ts'
import { ipv4SetChecksum, l4SetChecksum, set16, set32 } from '../src/packet/index.ts'
import { rng } from '../test/helpers/rng.ts'

// Frames strided as the pool lays out its default 2048-byte buffers (native/layout.h bufferStrideOf).
export const SLOT = 2112
const BURST = 32
const MIN_SECONDS = 0.3

export interface Traffic {
  bytes: Uint8Array
  lengths: Int32Array
  count: number
}

interface FlowGen {
  src(i: number): number
  dst(i: number): number
}

/** `count` frames over `flows` flows; sizes follow a simple IMIX (7:4:1 of 64, 594, 1518 bytes). */
function traffic(count: number, flows: number, gen: FlowGen, seed: number): Traffic {
  const r = rng(seed)
  const bytes = new Uint8Array(count * SLOT)
  const lengths = new Int32Array(count)
  const dports = [80, 443, 443, 53, 22, 8080, 3306, 123]
  for (let i = 0; i < count; i++) {
    const f = Math.floor(r() * flows)
    const fr = rng(f * 7919 + 1)
    const udp = fr() < 0.2
    const k = r() * 12
    const len = k < 7 ? 64 : k < 11 ? 594 : 1518
    const o = i * SLOT
    const l3 = o + 14
    bytes[o] = 2
    bytes[o + 5] = 2
    bytes[o + 6] = 2
    bytes[o + 11] = 1
    set16(bytes, o + 12, 0x0800)
    const ipLen = len - 14 - 4 // minus the FCS a capture would not hold
    bytes[l3] = 0x45
    set16(bytes, l3 + 2, ipLen)
    set16(bytes, l3 + 4, i & 0xffff)
    bytes[l3 + 8] = 64
    bytes[l3 + 9] = udp ? 17 : 6
    set32(bytes, l3 + 12, gen.src(f))
    set32(bytes, l3 + 16, gen.dst(f))
    const l4 = l3 + 20
    set16(bytes, l4, 1024 + Math.floor(fr() * 60000))
    set16(bytes, l4 + 2, dports[Math.floor(fr() * dports.length)])
    if (udp) set16(bytes, l4 + 4, ipLen - 20)
    else {
      bytes[l4 + 12] = 0x50
      bytes[l4 + 13] = 0x10
    }
    ipv4SetChecksum(bytes, l3)
    l4SetChecksum(bytes, l3)
    lengths[i] = len - 4
  }
  return { bytes, lengths, count }
}

export function packetOver(t: Traffic, from: number): Packet {
  return { bytes: t.bytes, view: new DataView(t.bytes.buffer), d: 0, at: 0, length: 0, from, inPort: 1, flowHash: 0 }
}

/** ns per packet of `step` over the traffic, in bursts, for at least MIN_SECONDS after a warm-up. */
export function measure(t: Traffic, step: (p: Packet) => void, p: Packet): number {
  const run = (rounds: number): void => {
    const lengths = t.lengths
    for (let r = 0; r < rounds; r++) {
      for (let b = 0; b < t.count; b += BURST) {
        const end = Math.min(b + BURST, t.count)
        for (let i = b; i < end; i++) {
          p.d = i
          p.at = i * SLOT
          p.length = lengths[i]
          step(p)
        }
      }
    }
  }
  run(3)
  let rounds = 1
  for (;;) {
    const t0 = process.hrtime.bigint()
    run(rounds)
    const ns = Number(process.hrtime.bigint() - t0)
    if (ns >= MIN_SECONDS * 1e9) return ns / (rounds * t.count)
    rounds = Math.max(rounds * 2, Math.ceil((rounds * MIN_SECONDS * 1.1e9) / Math.max(ns, 1)))
  }
}

export const env: NFEnv = { endpointId: n => (n === 'lan' ? 1 : n === 'wan' ? 2 : -1), gateTarget: g => (g === 'inside' ? 1 : g === 'outside' ? 2 : -1), now: () => 0 }

const ip = (a: number, b: number, c: number, d: number) => (a << 24) | (b << 16) | (c << 8) | d

/** Realistic-looking rules: services on inside subnets, blocked sources, DNS, a few catch-alls. */
export function rules(n: number, seed: number): FirewallRule[] {
  const r = rng(seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]
  const q = (a: number) => `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`
  const out: FirewallRule[] = []
  for (let i = 0; i < n; i++) {
    const k = r()
    if (k < 0.5) {
      out.push({
        action: 'allow', proto: 'tcp',
        dst: `${q(ip(10, Math.floor(r() * 64), Math.floor(r() * 256), 0))}/24`,
        dstPort: pick<FirewallRule['dstPort']>([22, 80, 443, 8080, [80, 443], '8000-8999']),
      })
    } else if (k < 0.75) {
      out.push({ action: 'drop', src: `${q(ip(100 + Math.floor(r() * 100), Math.floor(r() * 256), 0, 0))}/16` })
    } else if (k < 0.9) {
      out.push({ action: 'allow', proto: 'udp', dst: q(ip(10, Math.floor(r() * 64), Math.floor(r() * 256), Math.floor(r() * 256))), dstPort: 53 })
    } else {
      out.push({ action: 'allow', proto: 'tcp', src: `${q(ip(172, 16 + Math.floor(r() * 16), Math.floor(r() * 256), 0))}/24`, dstPort: '1024-65535', in: 'lan' })
    }
  }
  return out
}

function swapEnds(b: Uint8Array, at: number): void {
  const l3 = at + 14
  for (let i = 0; i < 4; i++) {
    const x = b[l3 + 12 + i]
    b[l3 + 12 + i] = b[l3 + 16 + i]
    b[l3 + 16 + i] = x
  }
  const l4 = l3 + 20
  for (let i = 0; i < 2; i++) {
    const x = b[l4 + i]
    b[l4 + i] = b[l4 + 2 + i]
    b[l4 + 2 + i] = x
  }
}

export async function run(report: Report): Promise<void> {
  report.section('NFs')
  const FLOWS = 4096
  const COUNT = 8192
  const inside: FlowGen = {
    src: f => ip(10, 64 + ((f >> 8) & 63), f & 255, 1 + (f % 200)),
    dst: f => ip(10, f & 63, (f * 7) & 255, (f * 13) & 255),
  }

  const l2 = l2fwd.create({}, env)
  const tl2 = traffic(COUNT, FLOWS, inside, 1)
  report.add('l2fwd JS cost (target <= 25)', measure(tl2, p => l2.process(p), packetOver(tl2, 1)), 'ns/packet')

  const tfw = traffic(COUNT, FLOWS, {
    src: f => (f % 5 === 0 ? ip(100 + (f % 100), f & 255, 1, 1) : f % 7 === 0 ? ip(172, 16 + (f & 15), f & 255, 9) : inside.src(f)),
    dst: inside.dst,
  }, 2)
  for (const n of [10, 100, 1000, 10000]) {
    const cfg = { default: 'drop' as const, rules: rules(n, n) }
    const t0 = performance.now()
    const fw = firewall.create(cfg, env)
    const build = performance.now() - t0
    const target = n === 100 ? ' (target <= 80)' : n === 10000 ? ' (target <= 150)' : ''
    report.add(`firewall ${n} rules, JS cost${target}`, measure(tfw, p => fw.process(p), packetOver(tfw, 1)), 'ns/packet')
    const miss = firewall.create({ ...cfg, flowCacheSize: 1 }, env)
    report.add(`firewall ${n} rules, flow-cache miss (classifier)`, measure(tfw, p => miss.process(p), packetOver(tfw, 1)), 'ns/packet')
    report.add(`firewall ${n} rules, build`, build, 'ms')
    const c = fw.counters!()
    if (c.defaultPackets === 0) throw new Error('bench traffic never reaches the default policy')
  }
  const st = firewall.create({ default: 'drop', stateful: true, rules: rules(100, 100) }, env)
  report.add('firewall 100 rules, stateful, JS cost', measure(tfw, p => st.process(p), packetOver(tfw, 1)), 'ns/packet')

  // NAT: every frame goes out (translated), is answered by its remote (addresses and ports
  // swapped, about 5 ns here) and comes back in (translated back), restoring the buffer.
  const nt = nat.create({ external: '203.0.113.1', inside: '10.0.0.0/8' }, env)
  const tnat = traffic(COUNT, FLOWS, { src: inside.src, dst: f => ip(198, 51, 100 + (f & 3), f & 255) }, 3)
  const pn = packetOver(tnat, 1)
  const roundTrip = (p: Packet) => {
    p.from = 1
    if (nt.process(p) !== 1) throw new Error('NAT bench: outbound not translated')
    swapEnds(p.bytes, p.at)
    p.from = 2
    if (nt.process(p) !== 0) throw new Error('NAT bench: reply not translated back')
    swapEnds(p.bytes, p.at)
  }
  const perRound = measure(tnat, roundTrip, pn)
  report.add('NAT established flows, JS cost, out + in / 2 (target <= 120)', perRound / 2, 'ns/packet')
  report.add('NAT mappings active in that run', nt.counters!().mappingsActive, 'mappings')
}
