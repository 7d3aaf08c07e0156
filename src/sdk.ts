// What a project that writes its own NFs imports: `import { defineNF, DROP, type Packet } from
// 'xio-chain'`. The packet helpers are `xio-chain/packet`.
export { defineNF, DROP, HOLD, NFConfigError } from './xio/nf-types.ts'
export type { Counters, NFEnv, NFInstance, NFModule, Packet, PacketOut } from './xio/nf-types.ts'
