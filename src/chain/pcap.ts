// Classic pcap files: reading through pcap-parser (which knows only microsecond pcap), writing
// by hand (a 24-byte global header, then a 16-byte header per record, as libpcap does), so
// tcpdump, tshark and Wireshark read what we write.
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { createRequire } from 'node:module'
import { lockFile } from '../xio/native.ts'

const require = createRequire(import.meta.url)
const pcapParser = require('pcap-parser') as {
  parse(path: string): NodeJS.EventEmitter
}

export const LINKTYPE_ETHERNET = 1

export interface PcapRecord {
  /** Capture time in ns since the epoch. */
  timestampNs: bigint
  data: Buffer
  /** Length on the wire (may exceed data.length when the capture was cut at snaplen). */
  originalLength: number
}

export interface PcapCapture {
  records: PcapRecord[]
  linkType: number
  /** Set when the file ended inside a record, which was left out. */
  truncated: boolean
}

export class PcapError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`)
    this.name = 'PcapError'
  }
}

const MAGIC_US = 0xa1b2c3d4
const MAGIC_NS = 0xa1b23c4d
const MAGIC_PCAPNG = 0x0a0d0d0a

/** Says why a file is not classic microsecond pcap, before pcap-parser's terse error can. */
export function checkPcapFormat(file: string): void {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (e) {
    throw new PcapError(file, `cannot open: ${fileProblem(e)}`)
  }
  const head = Buffer.alloc(24)
  const n = readSync(fd, head, 0, 24, 0)
  closeSync(fd)
  if (n < 24) throw new PcapError(file, `too short to be a pcap file (${n} bytes)`)
  const le = head.readUInt32LE(0), be = head.readUInt32BE(0)
  if (le === MAGIC_US || be === MAGIC_US) return
  if (le === MAGIC_NS || be === MAGIC_NS)
    throw new PcapError(file, 'nanosecond-resolution pcap is not supported; convert it: editcap -F pcap in.pcap out.pcap')
  if (be === MAGIC_PCAPNG)
    throw new PcapError(file, 'pcapng is not supported; convert it: tshark -F pcap -r in.pcapng -w out.pcap')
  throw new PcapError(file, `not a pcap file (magic 0x${be.toString(16).padStart(8, '0')})`)
}

export async function readPcap(file: string): Promise<PcapCapture> {
  checkPcapFormat(file)
  const records: PcapRecord[] = []
  let linkType = LINKTYPE_ETHERNET
  let consumed = 24
  await new Promise<void>((resolve, reject) => {
    const parser = pcapParser.parse(file)
    parser.on('globalHeader', (h: { linkLayerType: number }) => (linkType = h.linkLayerType))
    parser.on('packet', (p: { header: { timestampSeconds: number; timestampMicroseconds: number; originalLength: number }; data: Buffer }) => {
      const ts = BigInt(p.header.timestampSeconds) * 1_000_000_000n + BigInt(p.header.timestampMicroseconds) * 1000n
      records.push({ timestampNs: ts, data: Buffer.from(p.data), originalLength: p.header.originalLength })
      consumed += 16 + p.data.length
    })
    parser.on('end', () => resolve())
    parser.on('error', (e: Error) => reject(new PcapError(file, e.message)))
  })
  return { records, linkType, truncated: consumed < statSync(file).size }
}

const problems: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
}

/** A file error in a few words, without Node's stack or repeated path. */
export function fileProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code
  return (code && problems[code]) ?? (e as Error).message
}

/** The 24-byte global header of a classic microsecond pcap. */
function pcapHeader(snapLength: number, linkType: number): Buffer {
  const h = Buffer.alloc(24)
  h.writeUInt32LE(MAGIC_US, 0)
  h.writeUInt16LE(2, 4)
  h.writeUInt16LE(4, 6)
  h.writeInt32LE(0, 8) // GMT offset
  h.writeUInt32LE(0, 12) // timestamp accuracy
  h.writeUInt32LE(snapLength, 16)
  h.writeUInt32LE(linkType, 20)
  return h
}

/** Whether the file open as fd begins with `bytes`. */
function startsWith(fd: number, bytes: Buffer): boolean {
  const head = Buffer.alloc(bytes.length)
  return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(bytes)
}

/** Puts one record (16-byte header, then the frame) into out at `used`; returns the new end. */
function putRecord(out: Buffer, used: number, bytes: Uint8Array, at: number, length: number, timestampNs: bigint, originalLength: number): number {
  const seconds = timestampNs / 1_000_000_000n
  const micros = (timestampNs % 1_000_000_000n) / 1000n
  out.writeUInt32LE(Number(seconds & 0xffffffffn), used)
  out.writeUInt32LE(Number(micros), used + 4)
  out.writeUInt32LE(length, used + 8)
  out.writeUInt32LE(Math.max(length, originalLength), used + 12)
  out.set(bytes.subarray(at, at + length), used + 16)
  return used + 16 + length
}

/**
 * Writes pcap to a stream (a file's, or standard output into `tcpdump -r -`): the header at
 * once, then the records written since the last flush() as one chunk per flush, so a reader at
 * the other end of a pipe sees each batch as it comes.
 */
export class PcapStreamWriter {
  private readonly buffer = Buffer.alloc(1 << 20)
  private used = 0
  count = 0

  constructor(readonly stream: NodeJS.WritableStream, snapLength = 65535, linkType = LINKTYPE_ETHERNET) {
    stream.write(pcapHeader(snapLength, linkType))
  }

  /** Adds frame bytes[at, at + length) with the given capture time; flushes first if the batch is full. */
  write(bytes: Uint8Array, at: number, length: number, timestampNs: bigint, originalLength = length): void {
    if (this.used + 16 + length > this.buffer.length) this.flush()
    this.used = putRecord(this.buffer, this.used, bytes, at, length, timestampNs, originalLength)
    this.count++
  }

  /** Hands the batch to the stream (a copy: the buffer is reused). */
  flush(): void {
    if (!this.used) return
    this.stream.write(Buffer.from(this.buffer.subarray(0, this.used)))
    this.used = 0
  }
}

/** How often buffered records reach the file, as `tcpdump -U` would: a crash loses at most this much. */
export const FLUSH_EVERY_MS = 1000

/**
 * Appends records to a new pcap file; frames are written byte for byte. Records are buffered
 * and written at least every FLUSH_EVERY_MS, so readers (tcpdump -r, tail -f | tcpdump) see
 * them while the chain runs, and a kill -9 loses at most the last second.
 */
export class PcapWriter {
  private readonly fd: number
  private readonly buffer = Buffer.alloc(1 << 20)
  private used = 0
  private readonly flusher: NodeJS.Timeout
  count = 0

  /**
   * `continuing`: a capture this writer takes over from another that wrote the same file (a port
   * a reload restarted): what is there, if a capture of the same kind, is kept and written after.
   */
  constructor(readonly file: string, snapLength = 65535, linkType = LINKTYPE_ETHERNET, continuing = false) {
    try {
      mkdirSync(dirname(file), { recursive: true })
      // Opened without truncating, locked, then emptied (unless continuing): a capture another
      // chain is writing (two runs of one spec under different prefixes) is refused, never
      // overwritten. Continuing, it is read too, to see what is there.
      this.fd = openSync(file, continuing ? 'a+' : 'a')
    } catch (e) {
      throw new PcapError(file, `cannot write: ${fileProblem(e)}`)
    }
    if (!lockFile(this.fd)) {
      closeSync(this.fd)
      throw new PcapError(file, 'another running chain is writing this capture; give this run another output (--output, or another spec)')
    }
    const header = pcapHeader(snapLength, linkType)
    if (!(continuing && startsWith(this.fd, header))) {
      ftruncateSync(this.fd, 0)
      writeSync(this.fd, header)
    }
    this.flusher = setInterval(() => this.flushOrStop(), FLUSH_EVERY_MS)
    this.flusher.unref()
  }

  /** Why writing stopped (the disk filled, the file went away), or null. */
  failure: PcapError | null = null
  /** Records dropped after writing stopped. */
  lost = 0

  // From the timer: an error here has no caller to go to, so it is said once and writing stops.
  private flushOrStop(): void {
    if (this.failure) return
    try {
      this.flush()
    } catch (e) {
      this.failure = e instanceof PcapError ? e : new PcapError(this.file, `cannot write: ${fileProblem(e)}`)
      process.stderr.write(`${this.failure.message}; records from now on are lost\n`)
    }
  }

  /** Writes frame bytes[at, at + length) with the given capture time. */
  write(bytes: Uint8Array, at: number, length: number, timestampNs: bigint, originalLength = length): void {
    if (this.failure) {
      this.lost++
      return
    }
    if (this.used + 16 + length > this.buffer.length) this.flushOrStop()
    this.used = putRecord(this.buffer, this.used, bytes, at, length, timestampNs, originalLength)
    this.count++
  }

  flush(): void {
    if (this.used) {
      try {
        writeSync(this.fd, this.buffer, 0, this.used)
      } catch (e) {
        throw new PcapError(this.file, `cannot write: ${fileProblem(e)}`)
      }
    }
    this.used = 0
  }

  close(): void {
    clearInterval(this.flusher)
    try {
      if (!this.failure) this.flush()
    } finally {
      closeSync(this.fd)
    }
  }
}
