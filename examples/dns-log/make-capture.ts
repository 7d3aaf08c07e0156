// Makes examples/dns-log/dns.pcap, what dns-log's chain replays: a few hosts of a small LAN
// looking names up (UDP over IPv4 and IPv6, one query over TCP), some of the resolver's
// answers, one datagram to port 53 too short to be DNS, and traffic that is not DNS at all.
// `node --import tsx examples/dns-log/make-capture.ts`; the timestamps are fixed, so the file
// is the same on every run.
import { fileURLToPath } from 'node:url'
import { buildIpv4Frame, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parseIpv4, TCP_ACK, TCP_SYN } from 'xio-chain/packet'
import { PcapWriter } from 'xio-chain/testing'
import {
  dnsMessage, lengthPrefixed, tcp4, TYPE_A, TYPE_AAAA, TYPE_HTTPS, TYPE_MX, TYPE_PTR, TYPE_SRV, TYPE_TXT, udp4, udp6,
} from './frames.ts'

const RESOLVER = '10.0.0.53'
const RESOLVER6 = '2001:db8:0:1::53'
let id = 0x2a00
let clientPort = 40000

/** A client's query to the resolver, over UDP from a port of its own. */
function query(client: string, name: string, qtype: number): Uint8Array {
  const message = dnsMessage({ id: id++, name, qtype })
  return client.includes(':') ? udp6(client, RESOLVER6, clientPort++, 53, message) : udp4(client, RESOLVER, clientPort++, 53, message)
}

/** The resolver's answer to `client` (not a query: dns-log counts it as a response). */
function answer(client: string, name: string, qtype: number): Uint8Array {
  return udp4(RESOLVER, client, 53, clientPort - 1, dnsMessage({ id: id - 1, name, qtype, response: true }))
}

/** A frame that is not DNS, built with the repo's IPv4 builder. */
function other(fields: Parameters<typeof buildIpv4Frame>[2]): Uint8Array {
  const b = new Uint8Array(256)
  return b.slice(0, buildIpv4Frame(b, 0, fields))
}

function arpRequest(sender: string, target: string): Uint8Array {
  const f = new Uint8Array(60)
  f.fill(0xff, 0, 6)
  f.set([0x02, 0, 0, 0, 0x0a, 0x03, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1, 0x02, 0, 0, 0, 0x0a, 0x03], 6)
  new DataView(f.buffer).setUint32(28, parseIpv4(sender)! >>> 0)
  new DataView(f.buffer).setUint32(38, parseIpv4(target)! >>> 0)
  return f
}

// An NTP client request (RFC 5905): version 4, mode 3, and its transmit time.
const ntpRequest = new Uint8Array(48)
ntpRequest.set([0x23, 0, 6, 0xe9], 0)
ntpRequest.set([0xe9, 0x0c, 0x4a, 0x00], 40)

const tcpQuery = dnsMessage({ id: 0x7c01, name: 'example.com', qtype: TYPE_TXT })
const tcpAnswer = dnsMessage({ id: 0x7c01, name: 'example.com', qtype: TYPE_TXT, response: true })

const frames: Uint8Array[] = [
  arpRequest('10.0.0.3', '10.0.0.53'),
  query('10.0.0.2', 'www.example.com', TYPE_A),
  answer('10.0.0.2', 'www.example.com', TYPE_A),
  query('10.0.0.2', 'www.example.com', TYPE_AAAA),
  other({ src: parseIpv4('10.0.0.2')!, dst: parseIpv4('192.0.2.80')!, proto: IPPROTO_TCP, srcPort: 51000, dstPort: 443, tcpFlags: TCP_SYN, seq: 7000 }),
  query('10.0.0.3', 'api.example.net', TYPE_A),
  answer('10.0.0.3', 'api.example.net', TYPE_A),
  query('10.0.0.3', 'cdn.assets.example.net', TYPE_A),
  query('10.0.0.4', 'mail.example.org', TYPE_MX),
  query('10.0.0.4', 'WWW.Example.COM', TYPE_A),
  query('2001:db8:0:1::10', 'www.example.com', TYPE_AAAA),
  query('2001:db8:0:1::10', 'api.example.net', TYPE_AAAA),
  other({ src: parseIpv4('10.0.0.4')!, dst: parseIpv4('192.0.2.123')!, proto: IPPROTO_UDP, srcPort: 123, dstPort: 123, payload: ntpRequest }),
  query('10.0.0.5', '_ldap._tcp.corp.example.com', TYPE_SRV),
  query('10.0.0.5', '80.2.0.192.in-addr.arpa', TYPE_PTR),
  query('10.0.0.2', 'www.example.com', TYPE_A),
  query('10.0.0.3', 'api.example.net', TYPE_A),
  other({ src: parseIpv4('10.0.0.3')!, dst: parseIpv4('192.0.2.1')!, proto: IPPROTO_ICMP, icmpId: 0x77, icmpSeq: 1 }),
  query('10.0.0.3', 'cdn.assets.example.net', TYPE_A),
  query('10.0.0.4', 'time.example.org', TYPE_A),
  // A TXT lookup over TCP: the handshake's SYN, the query behind its length, the answer.
  tcp4('10.0.0.5', RESOLVER, 41000, 53, new Uint8Array(0), { tcpFlags: TCP_SYN, seq: 9000 }),
  tcp4('10.0.0.5', RESOLVER, 41000, 53, lengthPrefixed(tcpQuery), { seq: 9001, ack: 300 }),
  tcp4(RESOLVER, '10.0.0.5', 53, 41000, lengthPrefixed(tcpAnswer), { seq: 300, ack: 9001 + 2 + tcpQuery.length }),
  query('10.0.0.2', 'updates.example.com', TYPE_HTTPS),
  // Six bytes to port 53: not even a DNS header.
  udp4('10.0.0.6', RESOLVER, 40999, 53, Uint8Array.of(0x12, 0x34, 0x01, 0x00, 0x00, 0x01)),
  query('10.0.0.4', 'mail.example.org', TYPE_MX),
  query('2001:db8:0:1::11', 'www.example.com', TYPE_AAAA),
  query('10.0.0.2', 'www.example.com', TYPE_A),
  answer('10.0.0.2', 'www.example.com', TYPE_A),
  other({ src: parseIpv4('10.0.0.2')!, dst: parseIpv4('192.0.2.80')!, proto: IPPROTO_TCP, srcPort: 51000, dstPort: 443, tcpFlags: TCP_ACK, seq: 7001, ack: 1 }),
  query('10.0.0.3', 'api.example.net', TYPE_A),
  query('10.0.0.3', 'cdn.assets.example.net', TYPE_A),
  query('10.0.0.4', 'time.example.org', TYPE_A),
  query('10.0.0.5', 'www.example.com', TYPE_A),
]

const file = fileURLToPath(new URL('./dns.pcap', import.meta.url))
const writer = new PcapWriter(file)
const BASE_NS = 1_700_000_000_000_000_000n
// 40 ms apart: the replay's clock follows these.
frames.forEach((f, i) => writer.write(f, 0, f.length, BASE_NS + BigInt(i) * 40_000_000n))
writer.close()
console.log(`examples/dns-log/dns.pcap: ${writer.count} frames`)
