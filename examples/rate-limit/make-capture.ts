// Makes examples/rate-limit/sources.pcap, the capture chain.json replays through rate-limit:
//   node --import tsx examples/rate-limit/make-capture.ts [output.pcap]
// One second of traffic from a LAN where one host floods and the others are polite;
// timestamps are fixed, so the file is the same on every run. What the chain's limit (50/second, burst 10) makes of each source:
//   10.0.0.66      a SYN flood, one every 4 ms (250): 59 pass (10 of burst, then one per 20 ms)
//   10.0.0.4       a stream at exactly the rate, one every 20 ms (50): all pass
//   10.0.0.2       DNS queries, one every 100 ms (10): all pass
//   10.0.0.3       a page load, 10 connections opened at once (10): all pass, the burst
//   2001:db8:1::2  an IPv6 host, a datagram every 100 ms (10): all pass
//   ARP            two requests from the flooder (2): pass untouched, not IP
//   malformed      an IPv4 frame cut inside its header and one whose total length runs past
//                  the frame (2): dropped
import { fileURLToPath } from 'node:url'
import {
  buildIpv4Frame, checksumOf, IPPROTO_TCP, IPPROTO_UDP, ipv4SetChecksum, parseIpv4, parseIpv6, parseMac, set16, set32, TCP_SYN,
  writeArpRequest, type FrameFields,
} from 'xio-chain/packet'
import { PcapWriter } from 'xio-chain/testing'

const file = process.argv[2] ?? fileURLToPath(new URL('./sources.pcap', import.meta.url))
const BASE_NS = 1_700_000_000_000_000_000n
const ip = (s: string) => parseIpv4(s)!
const HOST_MAC = parseMac('02:00:00:00:0a:02')!
const GATEWAY_MAC = parseMac('02:00:00:00:0a:01')!

interface Frame {
  ms: number
  bytes: Uint8Array
}
const frames: Frame[] = []

function ipv4(ms: number, f: Omit<FrameFields, 'src' | 'dst'> & { src: string; dst: string }): void {
  const b = new Uint8Array(1514)
  const length = buildIpv4Frame(b, 0, { srcMac: HOST_MAC, dstMac: GATEWAY_MAC, ...f, src: ip(f.src), dst: ip(f.dst) })
  frames.push({ ms, bytes: b.subarray(0, length) })
}

/** An Ethernet + IPv6 + UDP frame with an 8-byte payload, its checksum right (build.ts makes IPv4 only). */
function ipv6Udp(ms: number, src: string, dst: string, srcPort: number, dstPort: number): void {
  const udpLength = 8 + 8
  const b = new Uint8Array(14 + 40 + udpLength)
  b.set(GATEWAY_MAC, 0)
  b.set(HOST_MAC, 6)
  set16(b, 12, 0x86dd)
  b[14] = 0x60
  set16(b, 18, udpLength)
  b[20] = IPPROTO_UDP
  b[21] = 64
  for (const [at, words] of [[22, parseIpv6(src)!], [38, parseIpv6(dst)!]] as const) {
    for (let i = 0; i < 4; i++) set32(b, at + 4 * i, words[i])
  }
  set16(b, 54, srcPort)
  set16(b, 56, dstPort)
  set16(b, 58, udpLength)
  let pseudo = udpLength + IPPROTO_UDP
  for (let i = 22; i < 54; i += 2) pseudo += (b[i] << 8) | b[i + 1]
  set16(b, 60, checksumOf(b, 54, udpLength, pseudo) || 0xffff)
  frames.push({ ms, bytes: b })
}

/** A DNS query (RFC 1035 4.1) for example.net's A record. */
function dnsQuery(id: number): Uint8Array {
  const name = [7, ...'example'.split('').map((c) => c.charCodeAt(0)), 3, ...'net'.split('').map((c) => c.charCodeAt(0)), 0]
  return Uint8Array.of(id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...name, 0, 1, 0, 1)
}

for (let i = 0; i < 250; i++) {
  ipv4(i * 4, { src: '10.0.0.66', dst: '198.51.100.10', proto: IPPROTO_TCP, srcPort: 20000 + i, dstPort: 80, tcpFlags: TCP_SYN, seq: 1000 * i })
}
for (let i = 0; i < 50; i++) {
  ipv4(10 + i * 20, { src: '10.0.0.4', dst: '198.51.100.20', proto: IPPROTO_UDP, srcPort: 5004, dstPort: 5004, ipId: i })
}
for (let i = 0; i < 10; i++) {
  ipv4(50 + i * 100, { src: '10.0.0.2', dst: '198.51.100.53', proto: IPPROTO_UDP, srcPort: 33000 + i, dstPort: 53, payload: dnsQuery(i) })
}
for (let i = 0; i < 10; i++) {
  ipv4(502, { src: '10.0.0.3', dst: '198.51.100.30', proto: IPPROTO_TCP, srcPort: 41000 + i, dstPort: 443, tcpFlags: TCP_SYN })
}
for (let i = 0; i < 10; i++) ipv6Udp(25 + i * 100, '2001:db8:1::2', '2001:db8:2::10', 34000 + i, 9)
for (const ms of [1, 501]) {
  const b = new Uint8Array(60)
  writeArpRequest(b, 0, HOST_MAC, ip('10.0.0.66'), ip('10.0.0.1'))
  frames.push({ ms, bytes: b })
}
// Malformed: an IPv4 EtherType with only 10 bytes of header after it, and a header whose
// total length (1000) says more than the 60-byte frame holds.
const cut = new Uint8Array(60)
buildIpv4Frame(cut, 0, { srcMac: HOST_MAC, dstMac: GATEWAY_MAC, src: ip('10.0.0.99'), dst: ip('198.51.100.10'), proto: IPPROTO_UDP })
frames.push({ ms: 700, bytes: cut.slice(0, 24) })
const long = new Uint8Array(60)
buildIpv4Frame(long, 0, { srcMac: HOST_MAC, dstMac: GATEWAY_MAC, src: ip('10.0.0.99'), dst: ip('198.51.100.10'), proto: IPPROTO_UDP })
set16(long, 16, 1000)
ipv4SetChecksum(long, 14)
frames.push({ ms: 702, bytes: long })

// Array.prototype.sort is stable: frames of one millisecond keep the order written above.
frames.sort((a, b) => a.ms - b.ms)
const writer = new PcapWriter(file)
for (const f of frames) writer.write(f.bytes, 0, f.bytes.length, BASE_NS + BigInt(f.ms) * 1_000_000n)
writer.close()
console.log(`${file}: ${writer.count} frames`)
