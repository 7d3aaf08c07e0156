// Golden replays: each bundled chain over its bundled captures, through the real CLI, must
// write exactly the expected captures, and an independent reader (tshark) must agree that
// they are what the chain should produce. UPDATE_GOLDEN=1 rewrites the expected files.
import test from 'ava'
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root, tsharkFields, xioChain } from '../helpers/cli.ts'
import { PcapWriter, readPcap } from '../../src/chain/pcap.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
import { scratchDir } from '../helpers/scratch.ts'

const golden = (chain: string, endpoint: string) => join(root, 'test/golden', chain, `${endpoint}.pcap`)

async function replay(chain: string, outputs: string[]) {
  const dir = scratchDir(`golden-${chain}`)
  const args = ['replay', `chains/${chain}.json`, '--json']
  for (const o of outputs) args.push('--output', `${o}=${join(dir, `${o}.pcap`)}`)
  const r = await xioChain(args)
  if (r.code !== 0) throw new Error(`replay ${chain} failed (${r.code}): ${r.stderr}`)
  if (process.env.UPDATE_GOLDEN) for (const o of outputs) copyFileSync(join(dir, `${o}.pcap`), golden(chain, o))
  return { dir, counters: JSON.parse(r.stdout).endpoints as Record<string, Record<string, number>> }
}

function sameBytes(t: import('ava').ExecutionContext, actual: string, expected: string) {
  t.true(readFileSync(actual).equals(readFileSync(expected)), `${actual} differs from ${expected}`)
}

const allChecksumsGood = (rows: string[][]) => rows.every((r) => r.every((status) => status === '' || status === '1'))

test.serial('l2fwd: every frame comes out with its Ethernet addresses swapped', async (t) => {
  const { dir, counters } = await replay('l2fwd', ['out'])
  sameBytes(t, join(dir, 'out.pcap'), golden('l2fwd', 'out'))
  const input = (await readPcap(join(root, 'pcaps/l2fwd-in.pcap'))).records
  const output = (await readPcap(join(dir, 'out.pcap'))).records
  t.is(output.length, input.length)
  t.is(counters.fwd.rx, input.length)
  output.forEach((o, i) => {
    t.true(o.data.subarray(0, 6).equals(input[i].data.subarray(6, 12)))
    t.true(o.data.subarray(12).equals(input[i].data.subarray(12)), 'nothing past the MACs changes')
    t.is(o.timestampNs, input[i].timestampNs, 'capture times are kept')
  })
  const rows = await tsharkFields(join(dir, 'out.pcap'), ['eth.src', 'eth.dst'])
  t.is(rows.length, 49)
  t.true(rows.slice(0, 48).every(([src, dst]) => src === '02:00:00:00:01:02' && dst === '02:00:00:00:01:01'))
})

test.serial('firewall: only what the rules allow comes out, unchanged', async (t) => {
  const { dir, counters } = await replay('firewall', ['out'])
  sameBytes(t, join(dir, 'out.pcap'), golden('firewall', 'out'))
  t.is(counters.fw.rx, 33)
  const rows = await tsharkFields(join(dir, 'out.pcap'), ['ip.src', 'ip.dst', 'ip.proto', 'tcp.dstport', 'udp.dstport', 'arp.opcode'])
  t.is(rows.length, 33 - counters.fw.dropped)
  // Per client outside the guest network: 443, 80, DNS, ping, and UDP 8000 or 9000 for two of
  // them; SSH for the admin host alone; plus ARP.
  t.is(rows.length, 16)
  for (const [src, dst, proto, tcpPort, udpPort, arp] of rows) {
    if (arp) continue // nonIp: allow
    t.false(src.startsWith('192.168.'), 'the guest network is dropped')
    if (tcpPort === '22') t.is(src, '172.16.0.10', 'SSH only from the admin host')
    if (proto === '6' && tcpPort !== '22') t.true(Number(tcpPort) >= 80 && Number(tcpPort) <= 443 && dst.startsWith('10.10.'))
    if (proto === '17') t.true(udpPort === '53' || (Number(udpPort) >= 8000 && Number(udpPort) <= 8499) || udpPort === '9000')
  }
  t.true(rows.some((r) => r[5] === '1'), 'ARP passed')
})

test.serial('fw-nat: outbound is masqueraded, replies and the port forward come back in, the rest is dropped', async (t) => {
  const { dir, counters } = await replay('fw-nat', ['lan', 'wan'])
  sameBytes(t, join(dir, 'wan.pcap'), golden('fw-nat', 'wan'))
  sameBytes(t, join(dir, 'lan.pcap'), golden('fw-nat', 'lan'))
  t.is(counters.fw.dropped, 2, 'telnet and SNMP stop at the firewall')
  t.is(counters.nat.dropped, 1, 'the unsolicited SSH probe finds no mapping')

  const wan = await tsharkFields(join(dir, 'wan.pcap'), ['ip.src', 'ip.dst', 'tcp.srcport', 'udp.srcport', 'icmp.ident', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status'])
  t.is(wan.length, 6)
  t.true(wan.every((r) => r[0] === '203.0.113.1'), 'every outbound packet carries the external address')
  t.true(wan.every((r) => [r[2], r[3]].filter(Boolean).every((p) => Number(p) >= 20000 && Number(p) <= 29999)), 'ports from the range')
  t.true(allChecksumsGood(wan.map((r) => r.slice(5))), 'IPv4, TCP and UDP checksums are valid after translation')

  const lan = await tsharkFields(join(dir, 'lan.pcap'), ['ip.src', 'ip.dst', 'tcp.dstport', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status'])
  t.deepEqual(lan.map((r) => r[1]), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.2'])
  t.deepEqual(lan[3].slice(0, 3), ['192.0.2.77', '10.0.0.5', '80'], 'the port forward reaches 10.0.0.5:80')
  t.true(allChecksumsGood(lan.map((r) => r.slice(3))))
})

test.serial('replay is deterministic: the same captures give byte-identical output', async (t) => {
  const a = await replay('fw-nat', ['lan', 'wan'])
  const b = await replay('fw-nat', ['lan', 'wan'])
  for (const o of ['lan', 'wan']) sameBytes(t, join(a.dir, `${o}.pcap`), join(b.dir, `${o}.pcap`))
})

test.serial('an empty capture (a header, no records) replays as zero packets, as tcpdump reads it', async (t) => {
  const dir = scratchDir('empty')
  const empty = join(dir, 'empty.pcap')
  new PcapWriter(empty).close()
  const r = await xioChain(['replay', 'chains/l2fwd.json', '--json', '--input', `in=${empty}`, '--output', `out=${join(dir, 'out.pcap')}`])
  t.is(r.code, 0, r.stderr)
  t.is(JSON.parse(r.stdout).endpoints.fwd.rx, 0)
  t.is((await readPcap(join(dir, 'out.pcap'))).records.length, 0, 'and writes an empty capture')
  rmSync(dir, { recursive: true, force: true })
})

test.serial('replay runs the NFs on the captures\' time: a mapping expires when the captures say, however fast the replay', async (t) => {
  const dir = scratchDir('clock')
  const t0 = 1_700_000_000_000_000_000n // ns
  const second = 1_000_000_000n
  const capture = (file: string, frames: [bigint, Uint8Array][]) => {
    const w = new PcapWriter(join(dir, file))
    for (const [at, frame] of frames) w.write(frame, 0, frame.length, at)
    w.close()
    return join(dir, file)
  }
  const query = ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.1', proto: 'udp', srcPort: 5000, dstPort: 53, payload: 20 })
  const answer = ipv4Frame({ src: '198.51.100.1', dst: '203.0.113.1', proto: 'udp', srcPort: 53, dstPort: 20000, payload: 40 })
  const lan = capture('lan.pcap', [[t0, query]])
  // The first answer comes at once; the second 200 s later, past the 120 s an answered UDP
  // mapping lives: the NAT must have forgotten it by then, as it would have live.
  const wan = capture('wan.pcap', [[t0 + second / 2n, answer], [t0 + 200n * second, answer]])
  const outputs: Buffer[] = []
  for (let run = 0; run < 2; run++) {
    const out = join(dir, `lan-out-${run}.pcap`)
    const r = await xioChain(['replay', 'chains/fw-nat.json', '--json', '--input', `lan=${lan}`, '--input', `wan=${wan}`, '--output', `lan=${out}`, '--output', `wan=${join(dir, 'wan-out.pcap')}`])
    t.is(r.code, 0, r.stderr)
    const delivered = (await readPcap(out)).records
    t.is(delivered.length, 1, 'only the answer within the mapping\'s life gets in')
    t.is(delivered[0].timestampNs, t0 + second / 2n)
    outputs.push(readFileSync(out))
  }
  t.true(outputs[0].equals(outputs[1]), 'and every replay gives the same bytes')
})

test.serial('fw-nat with the firewall and the NAT in one placement group: the very same output, byte for byte', async (t) => {
  // The same NF code run to completion in one process (fw.process, then nat.process, no hop
  // between) must decide exactly as when each runs alone.
  const dir = scratchDir('golden-grouped')
  const spec = JSON.parse(readFileSync(join(root, 'chains/fw-nat.json'), 'utf8'))
  delete spec.$schema
  spec.endpoints.fw.group = spec.endpoints.nat.group = 'edge'
  for (const port of ['lan', 'wan']) spec.endpoints[port].input = join(root, 'pcaps', `${port}.pcap`)
  const file = join(dir, 'fw-nat-grouped.json')
  writeFileSync(file, JSON.stringify(spec))
  const r = await xioChain(['replay', file, '--json', '--output', `lan=${join(dir, 'lan.pcap')}`, '--output', `wan=${join(dir, 'wan.pcap')}`])
  t.is(r.code, 0, r.stderr)
  sameBytes(t, join(dir, 'wan.pcap'), golden('fw-nat', 'wan'))
  sameBytes(t, join(dir, 'lan.pcap'), golden('fw-nat', 'lan'))
  const out = JSON.parse(r.stdout)
  const counters = out.endpoints as Record<string, { counters: Record<string, number> }>
  t.is(counters.fw.counters['drop/default'], 2, 'telnet and SNMP stop at the firewall, counted as its own')
  t.is(counters.nat.counters['drop/noMapping'], 1, 'the unsolicited SSH probe finds no mapping, counted as the NAT\'s')
  // What the manager routed is the group process's, not its first member's.
  const edge = out.groups.edge
  t.deepEqual(edge.members, ['fw', 'nat'])
  t.false('rx' in counters.fw)
  t.is(edge.rx, out.endpoints.lan.sent + out.endpoints.wan.sent, 'all the ports sent reached the group')
  t.is(edge.tx + edge.dropped, edge.rx, 'and went on or was dropped there (two by the firewall, one by the NAT)')
  t.is(edge.dropped, 3)
})
