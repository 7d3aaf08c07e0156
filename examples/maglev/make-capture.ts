// Makes examples/maglev/clients.pcap, the capture chain.json replays through the balancer:
//   node --import tsx examples/maglev/make-capture.ts [output.pcap]
// Fixed addresses, ports and timestamps: the same bytes on every run.
//
// What is in it, all from the clients' side of the balancer (VIP 203.0.113.80, service port 80):
//   - 30 HTTP connections to the VIP from 30 clients: SYN, ACK, then a GET, interleaved;
//   - an ICMP "fragmentation needed" from a router about a reply of the service's (to client 7);
//   - what is not for the service: TCP to the VIP's port 22, UDP to the VIP's port 53, a ping
//     to the VIP, HTTP to another address, an ARP request for the VIP;
//   - a TCP segment to the VIP whose IP total length runs past the frame (malformed).
import { fileURLToPath } from 'node:url'
import {
  buildIpv4Frame, ipv4SetChecksum, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parseIpv4, parseMac, set16, set32,
  TCP_ACK, TCP_PSH, TCP_SYN, type FrameFields,
} from '../../src/packet/index.ts'
import { PcapWriter } from 'xio-chain/testing'

const VIP = '203.0.113.80'
const CLIENTS = 30
/** Client k (1..30) is 198.51.100.k, port 40000 + 37·k. */
const clientAddress = (k: number) => `198.51.100.${k}`
const clientPort = (k: number) => 40000 + 37 * k

const ip = (s: string) => parseIpv4(s)!
const ROUTER_MAC = parseMac('02:00:00:00:cc:01')!
const BALANCER_MAC = parseMac('02:00:00:00:cc:80')!
const BASE_NS = 1_700_000_000_000_000_000n

type Fields = Omit<FrameFields, 'src' | 'dst'> & { src: string; dst: string }
const records: Array<{ ms: number; frame: Uint8Array }> = []

function add(ms: number, f: Fields): Uint8Array {
  const buf = new Uint8Array(2048)
  const length = buildIpv4Frame(buf, 0, { srcMac: ROUTER_MAC, dstMac: BALANCER_MAC, ...f, src: ip(f.src), dst: ip(f.dst) })
  const frame = buf.slice(0, length)
  records.push({ ms, frame })
  return frame
}

const get = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n')
for (let k = 1; k <= CLIENTS; k++) {
  const client = { src: clientAddress(k), dst: VIP, proto: IPPROTO_TCP, srcPort: clientPort(k), dstPort: 80 }
  const start = 5 * k
  add(start, { ...client, tcpFlags: TCP_SYN, seq: 1000 * k })
  add(start + 40, { ...client, tcpFlags: TCP_ACK, seq: 1000 * k + 1, ack: 7000 })
  add(start + 45, { ...client, tcpFlags: TCP_ACK | TCP_PSH, seq: 1000 * k + 1, ack: 7000, payload: get })
}

// A router on the way back to client 7 cannot forward the service's 1500-byte reply: the
// error quotes the reply's IP header and the first 8 bytes of its TCP header (RFC 792).
const reply = new Uint8Array(1514)
buildIpv4Frame(reply, 0, { src: ip(VIP), dst: ip(clientAddress(7)), proto: IPPROTO_TCP, srcPort: 80, dstPort: clientPort(7), tcpFlags: TCP_ACK, seq: 7001, size: 1514 })
add(300, { src: '192.0.2.1', dst: VIP, proto: IPPROTO_ICMP, icmpType: 3, icmpCode: 4, icmpId: 0, icmpSeq: 1400, payload: reply.slice(14, 14 + 28) })

add(310, { src: clientAddress(1), dst: VIP, proto: IPPROTO_TCP, srcPort: 50022, dstPort: 22, tcpFlags: TCP_SYN })
add(320, { src: clientAddress(2), dst: VIP, proto: IPPROTO_UDP, srcPort: 50053, dstPort: 53 })
add(330, { src: clientAddress(3), dst: VIP, proto: IPPROTO_ICMP, icmpId: 0x4d47, icmpSeq: 1 })
add(340, { src: clientAddress(4), dst: '203.0.113.99', proto: IPPROTO_TCP, srcPort: 50080, dstPort: 80, tcpFlags: TCP_SYN })

const arp = new Uint8Array(60)
arp.fill(0xff, 0, 6)
arp.set(ROUTER_MAC, 6)
arp.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12)
arp.set(ROUTER_MAC, 22)
set32(arp, 28, ip('203.0.113.1'))
set32(arp, 38, ip(VIP))
records.push({ ms: 350, frame: arp })

// Claims 1000 bytes of IP datagram in a 60-byte frame (its header checksum right, so the length is all that is wrong).
const cut = add(360, { src: clientAddress(5), dst: VIP, proto: IPPROTO_TCP, srcPort: clientPort(5), dstPort: 80, tcpFlags: TCP_ACK })
set16(cut, 14 + 2, 1000)
ipv4SetChecksum(cut, 14)

records.sort((a, b) => a.ms - b.ms)
const file = process.argv[2] ?? fileURLToPath(new URL('./clients.pcap', import.meta.url))
const writer = new PcapWriter(file)
for (const r of records) writer.write(r.frame, 0, r.frame.length, BASE_NS + BigInt(r.ms) * 1_000_000n)
writer.close()
console.log(`${file}: ${writer.count} frames`)
