// Makes examples/ttl-guard/probes.pcap, the capture chain.json replays through ttl-guard:
//   node --import tsx examples/ttl-guard/make-capture.ts [output.pcap]
// Timestamps are fixed, so the file is the same on every run. What the chain's guard
// (minTtl 32) makes of it:
//   a traceroute from 10.0.0.2: UDP to ports 33434-33441 with TTL 1 to 8 (8): dropped
//   a web fetch from 10.0.0.3 at TTL 64: SYN, ACK, request (3): pass
//   a DNS query from 10.0.0.4 at TTL 33 and one at TTL 31 (2): the first passes
//   an ARP request and an IPv6 datagram at hop limit 1 (2): pass untouched, not IPv4
//   a VLAN-tagged IPv4 datagram at TTL 1 (1): passes (the guard reads untagged frames only)
import { fileURLToPath } from 'node:url'
import { TCP_ACK, TCP_SYN } from 'xio-chain/packet'
import { arpFrame, ipv4Frame, ipv6Frame, PcapWriter } from 'xio-chain/testing'

const file = process.argv[2] ?? fileURLToPath(new URL('./probes.pcap', import.meta.url))
const frames: Uint8Array[] = []
for (let ttl = 1; ttl <= 8; ttl++) {
  frames.push(ipv4Frame({ proto: 'udp', src: '10.0.0.2', dst: '198.51.100.7', srcPort: 40000, dstPort: 33433 + ttl, ttl }))
}
const web = { proto: 'tcp', src: '10.0.0.3', dst: '198.51.100.80', srcPort: 51000, dstPort: 80, ttl: 64 } as const
frames.push(ipv4Frame({ ...web, tcpFlags: TCP_SYN }), ipv4Frame({ ...web, tcpFlags: TCP_ACK }), ipv4Frame({ ...web, tcpFlags: TCP_ACK, payload: new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n') }))
frames.push(ipv4Frame({ proto: 'udp', src: '10.0.0.4', dst: '198.51.100.53', srcPort: 5353, dstPort: 53, ttl: 33 }))
frames.push(ipv4Frame({ proto: 'udp', src: '10.0.0.4', dst: '198.51.100.53', srcPort: 5354, dstPort: 53, ttl: 31 }))
frames.push(arpFrame({ senderIp: '10.0.0.2', targetIp: '10.0.0.1' }))
frames.push(ipv6Frame({ proto: 'udp', src: '2001:db8::2', dst: '2001:db8::1', srcPort: 5000, dstPort: 5001, ttl: 1 }))
frames.push(ipv4Frame({ proto: 'udp', vlan: [10], src: '10.0.0.5', dst: '198.51.100.9', srcPort: 7000, dstPort: 7001, ttl: 1 }))

const writer = new PcapWriter(file)
frames.forEach((f, i) => writer.write(f, 0, f.length, 1_700_000_000_000_000_000n + BigInt(i) * 10_000_000n))
writer.close()
console.log(`wrote ${frames.length} frames to ${file}`)
