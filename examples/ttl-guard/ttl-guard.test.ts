// examples/ttl-guard: the NF through the harness (its boundary, what it leaves alone, its
// config refused as validate refuses it) and its chain replaying probes.pcap.
import test from 'ava'
import { join } from 'node:path'
import { readPcap } from '../../src/chain/pcap.ts'
import { arpFrame, harness, ipv4Frame, ipv6Frame } from '../../src/testing/index.ts'
import { root, xioChain } from '../../test/helpers/cli.ts'
import { scratchDir } from '../../test/helpers/scratch.ts'
import guard from './ttl-guard.ts'

const udp = (ttl: number) => ipv4Frame({ proto: 'udp', src: '10.0.0.2', dst: '198.51.100.7', srcPort: 40000, dstPort: 33434, ttl })

test('drops IPv4 below minTtl, passes minTtl and above, counting both', (t) => {
  const h = harness(guard, { minTtl: 32 })
  t.deepEqual([1, 31, 32, 33, 255].map((ttl) => h.send(udp(ttl)).verdict), ['drop', 'drop', 'out', 'out', 'out'])
  t.deepEqual(h.counters(), { passed: 3, 'drop/lowTtl': 2 })
})

test('leaves what is not untagged IPv4 alone', (t) => {
  const h = harness(guard, { minTtl: 255 })
  const others = [
    arpFrame({ senderIp: '10.0.0.2', targetIp: '10.0.0.1' }),
    ipv6Frame({ proto: 'udp', src: '2001:db8::2', dst: '2001:db8::1', ttl: 1 }),
    ipv4Frame({ proto: 'udp', vlan: [10], ttl: 1 }),
  ]
  t.deepEqual(others.map((f) => h.send(f).verdict), ['out', 'out', 'out'])
  t.is(h.out('out').length, 3)
})

test('its config is checked against its schema', (t) => {
  t.throws(() => harness(guard, { minTtl: 0 }), { message: /minTtl: must be >= 1/ })
  t.throws(() => harness(guard, {} as never), { message: '/minTtl: is required' })
})

test('the chain replays probes.pcap: the traceroute and the TTL-31 query dropped, the rest written', async (t) => {
  const out = join(scratchDir('ttl-guard'), 'out.pcap')
  const r = await xioChain(['replay', join(root, 'examples/ttl-guard/chain.json'), '--json', '--output', `out=${out}`])
  t.is(r.code, 0, r.stderr)
  const result = JSON.parse(r.stdout)
  t.is(result.endpoints.guard.rx, 16)
  const written = (await readPcap(out)).records
  t.is(written.length, 7)
  // Through the harness, the same capture gives the same verdicts, frame for frame.
  const h = harness(guard, { minTtl: 32 })
  const outcomes = await h.replay(join(root, 'examples/ttl-guard/probes.pcap'))
  t.deepEqual(outcomes.map((o) => o.verdict), [...Array(8).fill('drop'), 'out', 'out', 'out', 'out', 'drop', 'out', 'out', 'out'])
  t.deepEqual(written.map((w) => Buffer.from(w.data).toString('hex')), h.out('out').map((f) => Buffer.from(f).toString('hex')))
})
