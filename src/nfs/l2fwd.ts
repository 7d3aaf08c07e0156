// l2fwd — rewrites the Ethernet addresses and sends the frame on, as DPDK's l2fwd and
// OpenNetVM's simple_forward do: the simplest NF, and the echo of the round-trip benchmark.
// By default it swaps source and destination MAC, so a frame goes back the way it came;
// `src` and/or `dst` set fixed addresses instead (the other one is still taken from the
// swap). Frames shorter than an Ethernet header are counted as malformed and dropped.
//
// Gate: `out`.
//
//     { "dst": "02:00:00:00:00:02" }

import { DROP, type NFEnv, type NFInstance, type NFModule, type Packet } from '../xio/nf-types.ts'
import { ETH_DST, ETH_HLEN, ETH_SRC, swapMacs, writeMac } from '../packet/ethernet.ts'
import { macAt, objectAt, type Json } from './lib/config.ts'

export interface L2fwdConfig {
  /** Source MAC to write, e.g. "02:00:00:00:00:01". Default: the frame's destination MAC. */
  src?: string
  /** Destination MAC to write. Default: the frame's source MAC. */
  dst?: string
}

const OUT = 0

function create(config: L2fwdConfig, _env: NFEnv): NFInstance {
  const c = objectAt((config ?? {}) as Json, '', ['src', 'dst'])
  const src = c.src === undefined ? null : macAt(c.src, '/src')
  const dst = c.dst === undefined ? null : macAt(c.dst, '/dst')
  let malformed = 0
  return {
    process(p: Packet): number {
      if (p.length < ETH_HLEN) {
        malformed++
        return DROP
      }
      const b = p.bytes
      const at = p.at
      if (src === null || dst === null) swapMacs(b, at)
      if (src !== null) writeMac(b, at + ETH_SRC, src)
      if (dst !== null) writeMac(b, at + ETH_DST, dst)
      return OUT
    },
    counters: () => ({ malformed }),
  }
}

const l2fwd: NFModule<L2fwdConfig> = { gates: ['out'], create }
export default l2fwd
