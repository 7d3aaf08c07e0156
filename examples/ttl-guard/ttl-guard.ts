// An NF of one's own: drops IPv4 packets whose TTL is below `minTtl` (a packet that has come
// too far, or a traceroute probe), passes the rest. The module's default export is the NF:
// its name, its gates, the JSON Schema of its config (the chain's validator checks configs
// against it, errors naming the field) and create(), which builds it from a checked config.
// Run it: xio-chain replay examples/ttl-guard/chain.json --json
import { defineNF, DROP, type Packet } from 'xio-chain'
import { ETH_HLEN, ETHERTYPE_IPV4, get16, ipv4Ttl } from 'xio-chain/packet'

interface Config {
  minTtl: number
}

const OUT = 0

export default defineNF<Config>({
  name: 'ttl-guard',
  gates: ['out'],
  config: {
    type: 'object',
    additionalProperties: false,
    required: ['minTtl'],
    properties: { minTtl: { type: 'integer', minimum: 1, maximum: 255, description: 'Lowest TTL let through.' } },
  },
  create(config) {
    let passed = 0
    let dropped = 0
    return {
      process(p: Packet): number {
        // Untagged Ethernet carrying IPv4 (VLAN tags and IPv6 pass untouched).
        if (p.length >= ETH_HLEN + 20 && get16(p.bytes, p.at + 12) === ETHERTYPE_IPV4 && ipv4Ttl(p.bytes, p.at + ETH_HLEN) < config.minTtl) {
          dropped++
          return DROP
        }
        passed++
        return OUT
      },
      // Drops as drop/<reason>: the dashboard, trace and Prometheus count them as drops, by reason.
      counters: () => ({ passed, 'drop/lowTtl': dropped }),
    }
  },
})
