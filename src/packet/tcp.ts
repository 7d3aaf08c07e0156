// TCP headers (RFC 9293). Offsets are from the start of the TCP header, whose length is the
// data offset × 4 (20 to 60 bytes, options included).

import { get16, get32 } from './bytes.ts'

export const TCP_MIN_HLEN = 20
export const TCP_SRC_PORT = 0
export const TCP_DST_PORT = 2
export const TCP_SEQ = 4
export const TCP_ACK_NUMBER = 8
export const TCP_DATA_OFFSET = 12
export const TCP_FLAGS = 13
export const TCP_WINDOW = 14
export const TCP_CHECKSUM = 16
export const TCP_URGENT = 18

export const TCP_FIN = 0x01
export const TCP_SYN = 0x02
export const TCP_RST = 0x04
export const TCP_PSH = 0x08
export const TCP_ACK = 0x10
export const TCP_URG = 0x20

export function tcpSrcPort(b: Uint8Array, o: number): number {
  return get16(b, o + TCP_SRC_PORT)
}

export function tcpDstPort(b: Uint8Array, o: number): number {
  return get16(b, o + TCP_DST_PORT)
}

export function tcpSeq(b: Uint8Array, o: number): number {
  return get32(b, o + TCP_SEQ) >>> 0
}

export function tcpAck(b: Uint8Array, o: number): number {
  return get32(b, o + TCP_ACK_NUMBER) >>> 0
}

export function tcpHeaderLength(b: Uint8Array, o: number): number {
  return (b[o + TCP_DATA_OFFSET] >>> 4) << 2
}

export function tcpFlags(b: Uint8Array, o: number): number {
  return b[o + TCP_FLAGS]
}

/** True if a complete TCP header (options included) fits in [o, end). */
export function tcpHeaderFits(b: Uint8Array, o: number, end: number): boolean {
  if (o + TCP_MIN_HLEN > end) return false
  const hl = (b[o + TCP_DATA_OFFSET] >>> 4) << 2
  return hl >= TCP_MIN_HLEN && o + hl <= end
}
