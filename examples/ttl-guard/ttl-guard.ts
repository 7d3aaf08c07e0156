// An NF of one's own: drops IPv4 packets whose TTL is below `minTtl` (a packet that has come
// too far, or a traceroute probe), passes the rest. The module's default export is the NF:
// its name, its gates, the JSON Schema of its config (the chain's validator checks configs
// against it, errors naming the field) and create(), which builds it from a checked config.
// Run it: xio-chain replay examples/ttl-guard/chain.json --json

interface Config {
  minTtl: number
}

interface Packet {
  bytes: Uint8Array
  at: number
  length: number
}

const DROP = -1
const OUT = 0

export default {
  name: 'ttl-guard',
  gates: ['out'],
  config: {
    type: 'object',
    additionalProperties: false,
    required: ['minTtl'],
    properties: { minTtl: { type: 'integer', minimum: 1, maximum: 255, description: 'Lowest TTL let through.' } },
  },
  create(config: Config) {
    let passed = 0
    let dropped = 0
    return {
      process(p: Packet): number {
        const b = p.bytes
        const at = p.at
        // Untagged Ethernet carrying IPv4: the TTL is byte 8 of the IP header.
        if (p.length >= 34 && b[at + 12] === 0x08 && b[at + 13] === 0x00 && b[at + 22] < config.minTtl) {
          dropped++
          return DROP
        }
        passed++
        return OUT
      },
      counters: () => ({ passed, dropped }),
    }
  },
}
