// The kinds of endpoint a spec can name: the built-in NFs (each its own process; src/nfs lists
// them) and ports. NFs of one's own come as modules (kind "nf", nf-modules.ts).
import { builtinNFs } from '../nfs/index.ts'

export const nfs = builtinNFs

// A service is no port the chain runs: an application process attaches to it (src/net).
export const portKinds = ['pcap', 'afpacket', 'generator', 'sink', 'service'] as const
export type PortKind = (typeof portKinds)[number]

/** Every port sends what it brings in out of its one gate (a sink brings nothing in: its gate is never used). */
export const PORT_GATES = ['out'] as const

export function isPortKind(kind: string): kind is PortKind {
  return (portKinds as readonly string[]).includes(kind)
}
