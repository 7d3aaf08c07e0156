// Makes the bundled captures in pcaps/ with real headers and checksums:
// `node --import tsx scripts/make-pcaps.ts`. Timestamps are fixed, so the files are the same
// on every run, and so are the golden outputs under test/golden/.
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { buildIpv4Frame, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parseIpv4, parseMac, TCP_ACK, TCP_PSH, TCP_SYN, type FrameFields } from '../src/packet/index.ts'
import { PcapWriter } from '../src/chain/pcap.ts'

const dir = fileURLToPath(new URL('../pcaps/', import.meta.url))
mkdirSync(dir, { recursive: true })
const BASE_NS = 1_700_000_000_000_000_000n
const ip = (s: string) => parseIpv4(s)!
const mac = (s: string) => parseMac(s)!
const text = (s: string) => new TextEncoder().encode(s)

const LAN_HOST = mac('02:00:00:00:0a:02')
const GATEWAY = mac('02:00:00:00:0a:01')
const WAN_ROUTER = mac('02:00:00:00:0b:01')
const WAN_SIDE = mac('02:00:00:00:0b:02')

type Record = { ms: number; frame: Omit<Partial<FrameFields>, 'src' | 'dst'> & { src: string; dst: string; proto: number } } | { ms: number; raw: Uint8Array }

function write(name: string, records: Record[], defaults: Partial<FrameFields> = {}) {
  const w = new PcapWriter(dir + name)
  const buf = new Uint8Array(2048)
  for (const r of records) {
    const ts = BASE_NS + BigInt(Math.round(r.ms * 1000)) * 1000n
    if ('raw' in r) {
      w.write(r.raw, 0, r.raw.length, ts)
      continue
    }
    const length = buildIpv4Frame(buf, 0, { ...defaults, ...r.frame, src: ip(r.frame.src), dst: ip(r.frame.dst) })
    w.write(buf, 0, length, ts)
  }
  w.close()
  console.log(`pcaps/${name}: ${w.count} frames`)
}

function arpRequest(sender: Uint8Array, senderIp: string, targetIp: string): Uint8Array {
  const f = new Uint8Array(60)
  f.fill(0xff, 0, 6)
  f.set(sender, 6)
  f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12)
  f.set(sender, 22)
  new DataView(f.buffer).setUint32(28, ip(senderIp) >>> 0)
  new DataView(f.buffer).setUint32(38, ip(targetIp) >>> 0)
  return f
}

// fw-nat: an inside network 10.0.0.0/24 behind a firewall and a masquerading NAT (203.0.113.1).
const http = text('GET / HTTP/1.1\r\nHost: example.net\r\n\r\n')
const dnsQuery = Uint8Array.of(0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...text('example'), 3, ...text('net'), 0, 0, 1, 0, 1)
const outbound = { srcMac: LAN_HOST, dstMac: GATEWAY }
write('lan.pcap', [
  { ms: 0, frame: { src: '10.0.0.2', dst: '198.51.100.10', proto: IPPROTO_TCP, srcPort: 40000, dstPort: 80, tcpFlags: TCP_SYN, seq: 1000 } },
  { ms: 10, frame: { src: '10.0.0.3', dst: '198.51.100.53', proto: IPPROTO_UDP, srcPort: 5353, dstPort: 53, payload: dnsQuery } },
  { ms: 20, frame: { src: '10.0.0.4', dst: '198.51.100.1', proto: IPPROTO_ICMP, icmpId: 0x1234, icmpSeq: 1 } },
  { ms: 30, frame: { src: '10.0.0.2', dst: '198.51.100.10', proto: IPPROTO_TCP, srcPort: 40001, dstPort: 23, tcpFlags: TCP_SYN } },
  { ms: 40, frame: { src: '10.0.0.3', dst: '198.51.100.99', proto: IPPROTO_UDP, srcPort: 40002, dstPort: 161 } },
  { ms: 200, frame: { src: '10.0.0.2', dst: '198.51.100.10', proto: IPPROTO_TCP, srcPort: 40000, dstPort: 80, tcpFlags: TCP_ACK, seq: 1001, ack: 5001 } },
  { ms: 210, frame: { src: '10.0.0.2', dst: '198.51.100.10', proto: IPPROTO_TCP, srcPort: 40000, dstPort: 80, tcpFlags: TCP_ACK | TCP_PSH, seq: 1001, ack: 5001, payload: http } },
  { ms: 220, frame: { src: '10.0.0.4', dst: '198.51.100.1', proto: IPPROTO_ICMP, icmpId: 0x1234, icmpSeq: 2 } },
], outbound)

// Replies to the NAT's first mappings (each protocol's ports are handed out from 20000 up),
// a port forward (8080 → 10.0.0.5:80), and a probe with no mapping, which is dropped.
const inbound = { srcMac: WAN_ROUTER, dstMac: WAN_SIDE }
write('wan.pcap', [
  { ms: 100, frame: { src: '198.51.100.10', dst: '203.0.113.1', proto: IPPROTO_TCP, srcPort: 80, dstPort: 20000, tcpFlags: TCP_SYN | TCP_ACK, seq: 5000, ack: 1001 } },
  { ms: 110, frame: { src: '198.51.100.53', dst: '203.0.113.1', proto: IPPROTO_UDP, srcPort: 53, dstPort: 20000, payload: dnsQuery } },
  { ms: 120, frame: { src: '198.51.100.1', dst: '203.0.113.1', proto: IPPROTO_ICMP, icmpType: 0, icmpId: 20000, icmpSeq: 1 } },
  { ms: 130, frame: { src: '192.0.2.77', dst: '203.0.113.1', proto: IPPROTO_TCP, srcPort: 5555, dstPort: 8080, tcpFlags: TCP_SYN, seq: 77 } },
  { ms: 140, frame: { src: '192.0.2.66', dst: '203.0.113.1', proto: IPPROTO_TCP, srcPort: 6666, dstPort: 22, tcpFlags: TCP_SYN } },
  { ms: 300, frame: { src: '198.51.100.10', dst: '203.0.113.1', proto: IPPROTO_TCP, srcPort: 80, dstPort: 20000, tcpFlags: TCP_ACK | TCP_PSH, seq: 5001, ack: 1038, payload: text('HTTP/1.1 200 OK\r\n\r\n') } },
], inbound)

// l2fwd: frames of every size class, some TCP, some UDP, one ARP.
const l2: Record[] = []
for (let i = 0; i < 48; i++) {
  const size = [60, 64, 128, 256, 512, 1024, 1500, 1514][i % 8]
  l2.push({ ms: i, frame: { src: `10.1.0.${1 + (i % 20)}`, dst: `10.2.0.${1 + (i % 7)}`, proto: i % 3 ? IPPROTO_UDP : IPPROTO_TCP, srcPort: 1024 + i, dstPort: 9000 + (i % 4), size } })
}
l2.push({ ms: 48, raw: arpRequest(LAN_HOST, '10.1.0.1', '10.1.0.254') })
write('l2fwd-in.pcap', l2, { srcMac: mac('02:00:00:00:01:01'), dstMac: mac('02:00:00:00:01:02') })

// firewall: web and DNS allowed to the servers' network, SSH only from the admin host, the
// rest dropped; ARP passes (nonIp: allow).
const fw: Record[] = []
const clients = ['172.16.0.10', '172.16.0.11', '172.16.5.20', '192.168.1.50']
clients.forEach((src, c) => {
  const t = c * 10
  fw.push({ ms: t, frame: { src, dst: '10.10.0.5', proto: IPPROTO_TCP, srcPort: 30000 + c, dstPort: 443, tcpFlags: TCP_SYN } })
  fw.push({ ms: t + 1, frame: { src, dst: '10.10.0.6', proto: IPPROTO_TCP, srcPort: 30100 + c, dstPort: 80, tcpFlags: TCP_SYN } })
  fw.push({ ms: t + 2, frame: { src, dst: '10.10.0.53', proto: IPPROTO_UDP, srcPort: 30200 + c, dstPort: 53, payload: dnsQuery } })
  fw.push({ ms: t + 3, frame: { src, dst: '10.10.0.5', proto: IPPROTO_TCP, srcPort: 30300 + c, dstPort: 22, tcpFlags: TCP_SYN } })
  fw.push({ ms: t + 4, frame: { src, dst: '10.10.0.5', proto: IPPROTO_TCP, srcPort: 30400 + c, dstPort: 3306, tcpFlags: TCP_SYN } })
  fw.push({ ms: t + 5, frame: { src, dst: '10.20.0.9', proto: IPPROTO_TCP, srcPort: 30500 + c, dstPort: 443, tcpFlags: TCP_SYN } })
  fw.push({ ms: t + 6, frame: { src, dst: '10.10.0.5', proto: IPPROTO_ICMP, icmpId: 100 + c, icmpSeq: 1 } })
  fw.push({ ms: t + 7, frame: { src, dst: '10.10.0.7', proto: IPPROTO_UDP, srcPort: 30600 + c, dstPort: 8000 + c * 500 } })
})
fw.push({ ms: 50, raw: arpRequest(mac('02:00:00:00:02:01'), '172.16.0.10', '172.16.0.1') })
write('firewall-in.pcap', fw, { srcMac: mac('02:00:00:00:02:01'), dstMac: mac('02:00:00:00:02:02') })
