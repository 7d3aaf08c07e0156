// The kinds of endpoint a spec can name: the built-in NFs (each its own process) and ports.
// NFs of one's own come as modules (kind "nf", nf-modules.ts).
import type { NFModule } from '../xio/nf-types.ts'
import l2fwd from '../nfs/l2fwd.ts'
import firewall from '../nfs/firewall/index.ts'
import nat from '../nfs/nat/index.ts'
import router from '../nfs/router/index.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const nfs: Record<string, NFModule<any>> = { l2fwd, firewall, nat, router }

export const portKinds = ['pcap', 'afpacket', 'generator', 'sink'] as const
export type PortKind = (typeof portKinds)[number]

/** Every port sends what it brings in out of its one gate. */
export const PORT_GATES = ['out'] as const

export function isPortKind(kind: string): kind is PortKind {
  return (portKinds as readonly string[]).includes(kind)
}
