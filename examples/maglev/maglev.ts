// An NF of one's own: a layer-4 load balancer. Packets to a service address (the VIP, and
// `port` if set) are spread over backends by Maglev consistent hashing (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016): a lookup table of
// `tableSize` entries (a prime, many times the number of backends) names a backend in each
// entry, and a packet goes to the backend in the entry its flow hash selects. Every packet of
// a flow meets the same entry, so a flow stays on one backend with no per-flow state, and
// every instance of the NF, built from the same config, holds the same table. When a backend
// joins or leaves, about 1/N of the entries change hands (a little more: maglevTable below
// says why), so about 1/N of the flows move.
//
// Steering rewrites the destination IPv4 address to the backend's, fixing the IP and TCP/UDP
// checksums incrementally (RFC 1624), and the destination MAC to the backend's if it has one.
// Only the forward direction is its business: a backend answers from its own address, so the
// path back to the clients must put the VIP back as the source (or the backends answer from
// the VIP themselves, as Maglev's do).
//
// Which packets, and by which hash:
//   - TCP and UDP to the VIP (and `port`): the 5-tuple. p.flowHash when set (the AF_PACKET
//     port and the router set it to symmetricFlowHash of the 5-tuple), else the same hash
//     computed here, so a flow lands on one backend whichever of the two it gets.
//   - IPv4 fragments to the VIP: addresses and protocol alone, whatever the port, as only the
//     first fragment carries ports: all the fragments of a datagram reach one backend (not
//     always the one its flow's unfragmented packets reach; reassemble first if that matters).
//   - ICMP errors to the VIP about a packet the service sent (quoting the VIP, and `port`):
//     the quoted flow's hash, so "fragmentation needed" reaches the backend whose flow it is
//     about (path MTU discovery).
//   - Anything else to the VIP when `port` is not set (ICMP echo, other protocols): addresses,
//     protocol and ICMP identifier.
// Everything else passes untouched: other addresses and ports, IPv6, ARP, malformed frames not
// addressed to the VIP. A frame to the VIP that parse() refuses is dropped: no backend can be
// picked for what cannot be read, and nobody downstream holds the VIP.
//
// Gates: `out` alone. The balancer is a bump in the wire: steered packets go where the rest
// go (a router, a switch) and the destination they now carry does the rest.
// Config:
//   vip        the service address (IPv4)
//   port       balance only TCP and UDP to this port (default: everything to the VIP)
//   backends   [{ name, address, mac? }]: the table is built from the names, so changing an
//              address or MAC moves no flows, and renaming a backend moves its flows
//   tableSize  a prime (default 65537, the paper's); at least 100 times the number of
//              backends keeps them within about 1% of an even share of the flows
// Counters: backend/<name> (packets steered to each), notVip (passed untouched), malformed.
// Run it: xio-chain replay examples/maglev/chain.json --json
import { defineNF, DROP, NFConfigError, type NFEnv, type Packet } from 'xio-chain'
import {
  ETH_DST, ETHERTYPE_IPV4, get32, Headers, ICMP_HLEN, icmpIsError, IPPROTO_ICMP, IPV4_DST, parse, PARSE_IPV4,
  PARSE_TRUNCATED, parseIpv4, parseMac, parseQuoted, rewriteIpv4Dst, symmetricFlowHash, symmetricFlowHashOf,
} from 'xio-chain/packet'

export interface Backend {
  /** 1 to 15 letters, digits, '.', '_' or '-': it is part of its counter's name. */
  name: string
  address: string
  mac?: string
}

export interface Config {
  vip: string
  port?: number
  backends: Backend[]
  tableSize?: number
}

/** The paper's table size, a prime: over 500 entries a backend at MAX_BACKENDS. */
export const DEFAULT_TABLE_SIZE = 65537
/** The dashboard shows 128 counters per NF (native/layout.h): one per backend, and the two general ones. */
export const MAX_BACKENDS = 126
/** Building the table takes about M·ln M steps; 2^20 leaves room for the paper's larger table (655373). */
export const MAX_TABLE_SIZE = 1 << 20

const OUT = 0
/** What backendHash() returns for a packet that is not for the service (a flow hash is a uint32). */
const NOT_OURS = -1

const IPV4_PATTERN = '^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$'
/** A backend's name: it goes into its counter's name (backend/<name>), which holds 23 bytes. */
const NAME_PATTERN = '^[A-Za-z0-9._-]{1,15}$'
const NAME = new RegExp(NAME_PATTERN)
const NAME_RULE = 'must be 1 to 15 letters, digits, ".", "_" or "-"'

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false
  return true
}

const utf8 = new TextEncoder()

/**
 * A 32-bit hash of a backend's name: FNV-1a over its UTF-8 bytes, then MurmurHash3's
 * finaliser, so that every bit of the name reaches every bit of the hash (names like "web-1"
 * and "web-2" differ in one character). Two seeds give the paper's two hashes.
 */
function nameHash(name: string, seed: number): number {
  let h = seed
  for (const byte of utf8.encode(name)) h = Math.imul(h ^ byte, 0x01000193)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * The Maglev lookup table (the paper's Pseudocode 1): entry e holds the index, in `names`, of
 * the backend flows hashing to e go to. Each backend has its own permutation of the entries,
 * offset + j·skip mod size for j = 0, 1, ..., where offset and skip come from two hashes of
 * its name (size prime and 1 <= skip < size make it visit every entry once). The backends take
 * turns, each claiming the next entry of its permutation nobody has claimed yet, until the
 * table is full. Taking turns gives every backend size/N entries, give or take one; and since
 * a backend's permutation depends on its name alone, a backend joining or leaving changes
 * little else than the entries it gains or gives up. The turns go by name order, so the table
 * depends on the set of names, not on the order the config lists them in.
 */
export function maglevTable(names: readonly string[], size: number): Uint16Array {
  const n = names.length
  if (n === 0 || n > 0xffff) throw new RangeError(`a Maglev table needs 1 to 65535 backends, not ${n}`)
  if (!isPrime(size) || size > 0x7fffffff) throw new RangeError(`a Maglev table's size must be a prime (below 2^31), not ${size}`)
  if (new Set(names).size !== n) throw new RangeError('two backends have one name')
  const order = names.map((_, i) => i).sort((a, b) => (names[a] < names[b] ? -1 : 1))
  // Where each backend is in its permutation, and its step.
  const next = new Int32Array(n)
  const skip = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    next[i] = nameHash(names[i], 0x811c9dc5) % size
    skip[i] = (nameHash(names[i], 0x5bd1e995) % (size - 1)) + 1
  }
  const table = new Uint16Array(size)
  const claimed = new Uint8Array(size)
  let filled = 0
  for (;;) {
    for (const i of order) {
      let e = next[i]
      while (claimed[e]) e = (e + skip[i]) % size
      claimed[e] = 1
      table[e] = i
      next[i] = (e + skip[i]) % size
      if (++filled === size) return table
    }
  }
}

function ipv4At(text: unknown, path: string): number {
  const a = typeof text === 'string' ? parseIpv4(text) : null
  if (a === null) throw new NFConfigError(path, `expected an IPv4 address like 192.0.2.1, got ${JSON.stringify(text)}`)
  return a
}

export default defineNF<Config>({
  name: 'maglev',
  gates: ['out'],
  config: {
    type: 'object',
    additionalProperties: false,
    required: ['vip', 'backends'],
    properties: {
      vip: { type: 'string', pattern: IPV4_PATTERN, description: 'The service address clients send to.', errorMessage: 'must be an IPv4 address like 192.0.2.1' },
      port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Balance only TCP and UDP to this port (default: everything to the VIP).' },
      backends: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_BACKENDS,
        description: 'The servers behind the VIP; names and addresses unique.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'address'],
          properties: {
            name: { type: 'string', pattern: NAME_PATTERN, description: 'Names its entries in the table and its counter (backend/<name>).', errorMessage: NAME_RULE },
            address: { type: 'string', pattern: IPV4_PATTERN, description: 'The destination steered packets get.', errorMessage: 'must be an IPv4 address like 192.0.2.1' },
            mac: { type: 'string', pattern: '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$', description: 'The destination MAC steered packets get (default: left as it is).', errorMessage: 'must be a MAC address like 02:00:00:00:00:01' },
          },
        },
      },
      tableSize: { type: 'integer', minimum: 2, maximum: MAX_TABLE_SIZE, default: DEFAULT_TABLE_SIZE, description: 'Entries in the lookup table: a prime, at least 100 times the number of backends for a share within about 1% of even.' },
    },
  },
  create(config: Config, env: NFEnv) {
    const vip = ipv4At(config.vip, '/vip')
    const port = config.port ?? -1
    const size = config.tableSize ?? DEFAULT_TABLE_SIZE
    if (!isPrime(size)) throw new NFConfigError('/tableSize', `${size} is not a prime: Maglev's permutations need a prime table size (e.g. 65537 or 655373)`)
    const backends = config.backends ?? []
    const n = backends.length
    if (n === 0) throw new NFConfigError('/backends', 'needs at least one backend')
    if (n > MAX_BACKENDS) throw new NFConfigError('/backends', `at most ${MAX_BACKENDS} backends (one counter each on the dashboard)`)
    if (size < n) throw new NFConfigError('/tableSize', `${size} entries cannot hold ${n} backends`)
    if (size < 100 * n) env.warn?.('/tableSize', `${size} entries for ${n} backends: below 100 per backend, their shares of the flows may differ by more than 1%`)

    const names: string[] = []
    const addresses = new Int32Array(n)
    const macs = new Uint8Array(6 * n)
    const hasMac = new Uint8Array(n)
    backends.forEach((backend, i) => {
      const at = `/backends/${i}`
      if (typeof backend.name !== 'string' || !NAME.test(backend.name))
        throw new NFConfigError(`${at}/name`, `${NAME_RULE}, got ${JSON.stringify(backend.name)}`)
      const twin = names.indexOf(backend.name)
      if (twin >= 0) throw new NFConfigError(`${at}/name`, `backend ${twin} is called '${backend.name}' already`)
      const address = ipv4At(backend.address, `${at}/address`)
      if (address === vip) throw new NFConfigError(`${at}/address`, `${backend.address} is the VIP: its packets would come back here`)
      const same = addresses.subarray(0, i).indexOf(address)
      if (same >= 0) throw new NFConfigError(`${at}/address`, `backend '${names[same]}' has ${backend.address} already`)
      if (backend.mac !== undefined) {
        const mac = parseMac(backend.mac)
        if (mac === null) throw new NFConfigError(`${at}/mac`, `expected a MAC address like 02:00:00:00:00:01, got ${JSON.stringify(backend.mac)}`)
        macs.set(mac, 6 * i)
        hasMac[i] = 1
      }
      names.push(backend.name)
      addresses[i] = address
    })
    const table = maglevTable(names, size)

    const counterNames = names.map((name) => `backend/${name}`)
    const steered = new Float64Array(n)
    let notVip = 0
    let malformed = 0
    const h = new Headers()
    const quoted = new Headers()

    /** A datagram's fragments share addresses, protocol and id, but only the first has ports. */
    const isFragment = (x: Headers) => x.moreFragments || x.fragOffset !== 0
    const threeTupleHash = (x: Headers) => symmetricFlowHash(x.src, x.dst, x.proto, 0, 0)

    /** The hash that picks the backend of a packet parsed into h and addressed to the VIP, or NOT_OURS. */
    function backendHash(p: Packet): number {
      if (isFragment(h)) return threeTupleHash(h)
      if (h.proto === IPPROTO_ICMP && icmpIsError(h.icmpType)) {
        // About a packet from the service to a client: its flow's hash is the one the
        // client's packets to the service have, as the hash is symmetric.
        if (!parseQuoted(p.bytes, h.l4 + ICMP_HLEN, h.l3End, quoted) || quoted.src !== vip) return NOT_OURS
        if (isFragment(quoted)) return threeTupleHash(quoted)
        if (port >= 0 && !(quoted.hasPorts && quoted.srcPort === port)) return NOT_OURS
        return symmetricFlowHashOf(quoted)
      }
      if (port >= 0 && !(h.hasPorts && h.dstPort === port)) return NOT_OURS
      return p.flowHash !== 0 ? p.flowHash >>> 0 : symmetricFlowHashOf(h)
    }

    return {
      process(p: Packet): number {
        const b = p.bytes
        const status = parse(b, p.at, p.length, h)
        if (status !== PARSE_IPV4) {
          // Every refusal of an IPv4 frame but "truncated" comes after the fixed header was
          // found whole in the frame, so its destination can be read.
          if (status < 0 && status !== PARSE_TRUNCATED && h.etherType === ETHERTYPE_IPV4 && get32(b, h.l3 + IPV4_DST) === vip) {
            malformed++
            return DROP
          }
          notVip++
          return OUT
        }
        const hash = h.dst === vip ? backendHash(p) : NOT_OURS
        if (hash === NOT_OURS) {
          notVip++
          return OUT
        }
        const i = table[hash % size]
        rewriteIpv4Dst(b, h, addresses[i])
        if (hasMac[i] === 1) {
          const to = p.at + ETH_DST
          const from = 6 * i
          for (let k = 0; k < 6; k++) b[to + k] = macs[from + k]
        }
        steered[i]++
        return OUT
      },
      counters() {
        const c: Record<string, number> = { notVip, malformed }
        for (let i = 0; i < n; i++) c[counterNames[i]] = steered[i]
        return c
      },
    }
  },
})
