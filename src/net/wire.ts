// The socket protocol over the rings: every message is one pool buffer whose packet bytes start
// with this header, the payload (DATA only) after it. A write larger than one buffer goes out as
// several DATA messages, each copied once from the writer's bytes into its buffer and once out
// into the reader's; nothing is reassembled by a second copy.
//
// Connections are identified as the X-IO paper's 4-tuple (Fig. 6): (sender's service, its
// connection id) → (receiver's service, its connection id). The services come from the
// descriptor's metadata (the manager writes the sender, Meta::prev); the ids from this header.
// A connection id is the endpoint's local name for the connection, as a TCP port would be.
//
//   0  u8   type        DIAL, ACCEPT, DATA, FIN, RST, WINDOW
//   1  u8   flags       RST: REFUSED (no listener; the dialer's error is ECONNREFUSED)
//   2  u16  magic       'xs', so a stray packet (an NF's frame routed here) is told apart
//   4  u32  dst         the receiver's connection id (0 in DIAL: it has none yet)
//   8  u32  src         the sender's connection id
//   12 u32  consumed    bytes of the receiver's data the sender has consumed, mod 2^32: the
//                       credit (flow control): the receiver may have at most `window` bytes
//                       sent and not consumed, so a slow reader stops its peer
//   16 u32  window      DIAL, ACCEPT: the sender's receive window in bytes
//   20 u16  port        DIAL: the port dialled; ACCEPT: the port accepted on
//   22 u16  slot        DIAL, ACCEPT: the sender's slot in the region, and
//   24 u32  generation  its generation there, so the peer can tell when it dies (the slot frees
//                       or is claimed again) and reset the connection
//   28 u32  reserved
export const HEADER = 32
export const MAGIC = 0x7378

export const Type = { Dial: 1, Accept: 2, Data: 3, Fin: 4, Rst: 5, Window: 6 } as const

export const Flag = { Refused: 1 } as const

export interface Header {
  type: number
  flags: number
  dst: number
  src: number
  consumed: number
  window: number
  port: number
  slot: number
  generation: number
}

/** Writes a header at byte `at` of `view`. */
export function writeHeader(view: DataView, at: number, h: Header): void {
  view.setUint8(at, h.type)
  view.setUint8(at + 1, h.flags)
  view.setUint16(at + 2, MAGIC, true)
  view.setUint32(at + 4, h.dst, true)
  view.setUint32(at + 8, h.src, true)
  view.setUint32(at + 12, h.consumed >>> 0, true)
  view.setUint32(at + 16, h.window, true)
  view.setUint16(at + 20, h.port, true)
  view.setUint16(at + 22, h.slot, true)
  view.setUint32(at + 24, h.generation, true)
  view.setUint32(at + 28, 0, true)
}

/** Reads a header at byte `at`; null if the bytes are no message of this protocol. */
export function readHeader(view: DataView, at: number, length: number): Header | null {
  if (length < HEADER || view.getUint16(at + 2, true) !== MAGIC) return null
  const type = view.getUint8(at)
  if (type < Type.Dial || type > Type.Window) return null
  return {
    type,
    flags: view.getUint8(at + 1),
    dst: view.getUint32(at + 4, true),
    src: view.getUint32(at + 8, true),
    consumed: view.getUint32(at + 12, true),
    window: view.getUint32(at + 16, true),
    port: view.getUint16(at + 20, true),
    slot: view.getUint16(at + 22, true),
    generation: view.getUint32(at + 24, true),
  }
}

/**
 * Bytes the sender may still send: its window less what it sent and the peer has not yet
 * consumed. Counts travel mod 2^32; a window is below 2^31, so the difference is exact.
 */
export function credit(window: number, sent: number, consumed: number): number {
  return window - ((sent - consumed) >>> 0)
}
