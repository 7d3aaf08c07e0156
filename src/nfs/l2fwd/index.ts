// l2fwd — rewrites the Ethernet addresses and sends the frame on, as DPDK's l2fwd and
// OpenNetVM's simple_forward do: the simplest NF, and the echo of the round-trip benchmark.
// By default it swaps source and destination MAC, so a frame goes back the way it came;
// `src` and/or `dst` set fixed addresses instead (the other one is still taken from the
// swap). Frames shorter than an Ethernet header are counted as malformed and dropped.
//
// Gate: `out`.
//
// Config: config.schema.json beside this file, which generates its type (config-types.ts).
//
//     { "dst": "02:00:00:00:00:02" }

import { defineNF, DROP, type NFEnv, type NFInstance, type Packet } from '../../xio/nf-types.ts'
import { ETH_DST, ETH_HLEN, ETH_SRC, swapMacs, writeMac } from '../../packet/ethernet.ts'
import { bundle } from '../../packet/schema.ts'
import { macAt, objectAt, type Json } from '../lib/config.ts'
import type { L2FwdConfig } from './config-types.ts'
import schema from './config.schema.json' with { type: 'json' }

/** json2ts spells L2fwdConfig "L2FwdConfig"; the NF keeps its own spelling. */
export type L2fwdConfig = L2FwdConfig

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
    counters: () => ({ 'drop/malformed': malformed }),
    rewired: () => {}, // nothing it keeps depends on where its gate leads
  }
}

export default defineNF<L2fwdConfig>({ name: 'l2fwd', gates: ['out'], config: bundle(schema), create })
