// What a project that writes its own NFs imports: `import { defineNF, DROP, type Packet } from
// 'xio-chain'`. The packet helpers are `xio-chain/packet`.
export { CONSUMED, COUNTER_NAME_BYTES, defineNF, DROP, HOLD, NFConfigError } from './xio/nf-types.ts'
export type { Counters, NFEnv, NFInstance, NFModule, Packet, PacketOut } from './xio/nf-types.ts'
// Sockets and HTTP over a chain's rings (X-IO's second interface) are `xio-chain/net` and
// `xio-chain/http`, apart: an NF's import needs no Node type definitions.
