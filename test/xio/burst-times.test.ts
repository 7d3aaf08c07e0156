// The burst-time histogram the runner publishes (p50, p99, cost per packet).
import test from 'ava'
import fc from 'fast-check'
import { BurstTimes, bucketOf, upperEdge } from '../../src/xio/burst-times.ts'

test('every time falls in the bucket whose edges hold it, within 1/8 of its width (property)', (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 39 }), (ns) => {
    const b = bucketOf(ns)
    const lower = b === 0 ? 0 : upperEdge(b - 1)
    return lower <= ns && ns < upperEdge(b) && upperEdge(b) - lower <= Math.max(1, ns / 8 + 1)
  }))
  t.is(bucketOf(0), 0)
  t.is(upperEdge(bucketOf(1000)), 1024)
})

test('percentiles of known bursts; an empty window publishes nothing', (t) => {
  const times = new BurstTimes()
  const nothing: Record<string, number> = {}
  times.publishInto(nothing)
  t.deepEqual(nothing, {})
  for (let i = 0; i < 98; i++) times.record(1000, 32)
  times.record(50_000, 32)
  times.record(60_000, 32)
  const out: Record<string, number> = {}
  times.publishInto(out)
  t.is(out.burstP50Ns, 1024)           // 1000 ns, its bucket's upper edge
  t.true(out.burstP99Ns >= 50_000 && out.burstP99Ns <= 50_000 * 1.125)
  t.is(out.nsPerPacket, Math.round((98 * 1000 + 110_000) / (100 * 32)))
  // The window starts again.
  times.record(200, 1)
  const next: Record<string, number> = {}
  times.publishInto(next)
  t.deepEqual(next, { burstP50Ns: 208, burstP99Ns: 208, nsPerPacket: 200 })
  // Idle since: the last figures stay on show.
  const idle: Record<string, number> = {}
  times.publishInto(idle)
  t.deepEqual(idle, next)
})
