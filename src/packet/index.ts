// src/packet: zero-allocation readers and writers for the headers an NF meets, at an offset
// in a byte view. It knows headers and nothing of rings, buffers or NFs.

export * from './bytes.ts'
export * from './ethernet.ts'
export * from './arp.ts'
export * from './ipv4.ts'
export * from './ipv6.ts'
export * from './tcp.ts'
export * from './udp.ts'
export * from './icmp.ts'
export * from './icmpv6.ts'
export * from './checksum.ts'
export * from './headers.ts'
export * from './rewrite.ts'
export * from './flow.ts'
export * from './address.ts'
export * from './l4-checksum.ts'
export * from './build.ts'
// A config schema may use the shared address and port definitions ({ "$ref": "#/definitions/Ipv4" }): bundle() adds them.
export { bundle, type JsonSchema } from './schema.ts'
