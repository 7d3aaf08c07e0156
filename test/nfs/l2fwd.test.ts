import test from 'ava'
import l2fwd from '../../src/nfs/l2fwd/index.ts'
import { NFConfigError } from '../../src/xio/nf-types.ts'
import { formatMac } from '../../src/packet/index.ts'
import { harness, MARKER } from '../../src/testing/index.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'

const A = '02:00:00:00:00:0a'
const B = '02:00:00:00:00:0b'

test('gates', t => t.deepEqual([...l2fwd.gates], ['out']))

test('swaps MACs by default and leaves the rest alone', t => {
  const h = harness(l2fwd, {})
  const f = ipv4Frame({ srcMac: A, dstMac: B, payload: 50 })
  const out = h.send(f)
  t.is(out.verdict, 'out')
  const g = out.frame
  t.is(formatMac(g, 0), A)
  t.is(formatMac(g, 6), B)
  t.deepEqual(g.slice(12), f.slice(12))
  // Nothing written just outside the frame: the buffer's marker is still there on both sides.
  const at = h.offset(out.d)
  t.is(h.bytes[at - 1], MARKER)
  t.is(h.bytes[at + g.length], MARKER)
})

test('fixed dst: src becomes the old dst', t => {
  const out = harness(l2fwd, { dst: 'aa:bb:cc:dd:ee:ff' }).send(ipv4Frame({ srcMac: A, dstMac: B }))
  t.is(out.verdict, 'out')
  t.is(formatMac(out.frame, 0), 'aa:bb:cc:dd:ee:ff')
  t.is(formatMac(out.frame, 6), B)
})

test('fixed src and dst', t => {
  const out = harness(l2fwd, { src: '02:11:11:11:11:11', dst: '02:22:22:22:22:22' }).send(ipv4Frame({ srcMac: A, dstMac: B }))
  t.is(formatMac(out.frame, 0), '02:22:22:22:22:22')
  t.is(formatMac(out.frame, 6), '02:11:11:11:11:11')
})

test('frames shorter than an Ethernet header are dropped and counted', t => {
  const h = harness(l2fwd, {})
  t.is(h.send(ipv4Frame().slice(0, 13)).verdict, 'drop')
  t.is(h.counters()['drop/malformed'], 1)
  t.is(h.send(ipv4Frame().slice(0, 14)).verdict, 'out')
})

test('config errors name the field', t => {
  const e = t.throws(() => harness(l2fwd, { dst: 'nope' }), { instanceOf: NFConfigError })
  t.is(e.path, '/dst')
  const u = t.throws(() => harness(l2fwd, { sorce: A } as never), { instanceOf: NFConfigError })
  t.is(u.path, '/sorce')
})
