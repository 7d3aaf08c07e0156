// A chain environment for NF tests: named endpoints, wired gates, and a clock the test moves.

import type { NFEnv, Packet } from '../../src/xio/nf-types.ts'
import { Headers, parse } from '../../src/packet/index.ts'

export class TestEnv implements NFEnv {
  time = 1_000_000
  constructor(
    private readonly endpoints: Record<string, number> = {},
    private readonly gates: Record<string, number> = {},
  ) {}
  endpointId(name: string): number {
    return this.endpoints[name] ?? -1
  }
  gateTarget(gate: string): number {
    return this.gates[gate] ?? -1
  }
  now(): number {
    return this.time
  }
}

/** Parses a packet's frame (for assertions). */
export function headersOf(p: Packet): Headers {
  const h = new Headers()
  parse(p.bytes, p.at, p.length, h)
  return h
}
