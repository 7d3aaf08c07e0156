// One side of the round-trip benchmark: a packet of `size` bytes, written in place by the
// sender, goes out and comes back `rounds` times; returns RTT percentiles in µs. Timed with
// performance.now(), Node's cheapest clock (~50 ns here, against ~140 for hrtime.bigint(), which
// also allocates): part of each read falls inside the interval it measures.
import type { Xio } from '../src/xio/index.ts'
import { percentiles, type Percentiles } from './stats.ts'

export function ping(xio: Xio, size: number, rounds: number): Percentiles {
  const warmup = Math.min(1000, rounds / 10)
  const rtt = new Float64Array(rounds)
  const one = new Uint32Array(1)
  if (xio.malloc(one, 1) !== 1) throw new Error('pool dry')
  const d = one[0]
  for (let r = 0; r < rounds + warmup; r++) {
    const at = xio.offset(d)
    xio.bytes.fill(r & 0xff, at, at + size) // the sender writes its message in place, once
    xio.setLength(d, size)
    const t0 = performance.now()
    xio.tx(one, 1)
    while (xio.rxWait(one, 1000) === 0) if (!xio.managerAlive()) throw new Error('manager gone')
    const t1 = performance.now()
    if (xio.bytes[at + size - 1] !== (r & 0xff)) throw new Error('payload changed in flight')
    if (r >= warmup) rtt[r - warmup] = (t1 - t0) * 1000
  }
  xio.free(one, 1)
  return percentiles(rtt)
}
