import test from 'ava'
import l2fwd from '../../src/nfs/l2fwd/index.ts'
import { DROP, NFConfigError } from '../../src/xio/nf-types.ts'
import { formatMac } from '../../src/packet/index.ts'
import { frameOf, ipv4Frame, packetOf } from '../packet/craft.ts'
import { TestEnv } from './env.ts'

const A = '02:00:00:00:00:0a'
const B = '02:00:00:00:00:0b'

test('gates', t => t.deepEqual([...l2fwd.gates], ['out']))

test('swaps MACs by default and leaves the rest alone', t => {
  const nf = l2fwd.create({}, new TestEnv())
  const f = ipv4Frame({ srcMac: A, dstMac: B, payload: 50 })
  const p = packetOf(f)
  t.is(nf.process(p), 0)
  const g = frameOf(p)
  t.is(formatMac(g, 0), A)
  t.is(formatMac(g, 6), B)
  t.deepEqual(g.slice(12), f.slice(12))
  t.is(p.bytes[p.at - 1], 0xee)
  t.is(p.bytes[p.at + p.length], 0xee)
})

test('fixed dst: src becomes the old dst', t => {
  const nf = l2fwd.create({ dst: 'aa:bb:cc:dd:ee:ff' }, new TestEnv())
  const p = packetOf(ipv4Frame({ srcMac: A, dstMac: B }))
  t.is(nf.process(p), 0)
  t.is(formatMac(p.bytes, p.at), 'aa:bb:cc:dd:ee:ff')
  t.is(formatMac(p.bytes, p.at + 6), B)
})

test('fixed src and dst', t => {
  const nf = l2fwd.create({ src: '02:11:11:11:11:11', dst: '02:22:22:22:22:22' }, new TestEnv())
  const p = packetOf(ipv4Frame({ srcMac: A, dstMac: B }))
  nf.process(p)
  t.is(formatMac(p.bytes, p.at), '02:22:22:22:22:22')
  t.is(formatMac(p.bytes, p.at + 6), '02:11:11:11:11:11')
})

test('frames shorter than an Ethernet header are dropped and counted', t => {
  const nf = l2fwd.create({}, new TestEnv())
  const p = packetOf(ipv4Frame().slice(0, 13))
  t.is(nf.process(p), DROP)
  t.is(nf.counters!().malformed, 1)
  t.is(nf.process(packetOf(ipv4Frame().slice(0, 14))), 0)
})

test('config errors name the field', t => {
  const e = t.throws(() => l2fwd.create({ dst: 'nope' }, new TestEnv()), { instanceOf: NFConfigError })
  t.is(e.path, '/dst')
  const u = t.throws(() => l2fwd.create({ sorce: A } as never, new TestEnv()), { instanceOf: NFConfigError })
  t.is(u.path, '/sorce')
})
