// Loads the C++ addon (built by `npm install` through node-gyp) and types what it exports.
// ESM cannot import a .node file, hence createRequire.
import { createRequire } from 'node:module'

export interface RegionOptions {
  /** Endpoint slots (NF instances and ports), at most layout.maxSlots. */
  slots?: number
  /** Entries per ring, a power of two. */
  ringSize?: number
  /** Free buffers the manager keeps ready in each endpoint's alloc ring. */
  cacheSize?: number
  /** Buffers in the pool. */
  buffers?: number
  /** Bytes per buffer, metadata and headroom included. */
  bufferSize?: number
  headroom?: number
  /** File mode of /dev/shm/xio.<prefix>; 0o600 unless a group is to attach too. */
  mode?: number
  gid?: number
  /** The chain spec this region runs (absolute path), for observers to name gates and rules. */
  chainFile?: string
}

export interface ManagerOptions {
  burst?: number
  /** Poll this long without work before sleeping on the futex. */
  spinUs?: number
  /** Longest futex sleep when idle; 0 never sleeps (poll mode: the manager keeps its core). */
  sleepMs?: number
  livenessMs?: number
  /** Pin the manager thread to this CPU. */
  cpu?: number
}

export interface NativeRegion {
  buffer(): ArrayBuffer
  startManager(options?: ManagerOptions): void
  stopManager(): void
  declare(name: string): number
  route(from: number, gate: number, to: number | null): void
  /** [from, gate, to] triples, in force all at once between two manager polls. */
  routes(changes: [number, number, number | null][]): void
  managerAlive(): boolean
  /** Records the chain spec a reload put in force, for observers (the creator only). */
  recordChainFile(path: string): void
  /** The manager's number for addon.assistManager (-1: none). */
  assistId(): number
  close(): void
}

export interface NativeEndpoint {
  readonly slot: number
  readonly service: number
  rx(descs: Uint32Array): number
  tx(descs: Uint32Array, n?: number): number
  malloc(descs: Uint32Array, n?: number): number
  free(descs: Uint32Array, n?: number): void
  /** spin false: sleeps at once, the caller having polled already. */
  rxWait(descs: Uint32Array, timeoutMs: number, spin?: boolean): number
  /** How long rxWait polls before it sleeps. */
  readonly spinUs: number
  readable(): Promise<boolean>
  detach(): void
  /** A capture endpoint's taps (tap words, see layout.capture); returns the sequence number waitTaps takes. */
  setTaps(words: Uint32Array): number
  /** Whether the manager applies the taps of that setTaps call (blocks at most timeoutMs, up to 10 s). */
  waitTaps(seq: number, timeoutMs: number): boolean
  /** Wakes the manager if it sleeps: for the rings' JavaScript side, when it saw the manager's flag set. */
  wakeManager(): void
}

/** Waits on a pool thread until any of several endpoints has RX work (native/addon.cc RxWaitWorker). */
export interface NativeRxWaiter {
  /** True once one has work (or was closed or cut off meanwhile), false after timeoutMs or interrupt(); at most 127 endpoints. */
  wait(endpoints: NativeEndpoint[], timeoutMs: number): Promise<boolean>
  /** Ends the pending wait (false), if any. */
  interrupt(): void
}

/** A Linux interface's port: two native threads driving one endpoint (native/afpacket.h). */
export interface NativeAfPacket {
  stats(): AfPacketStats
  /** Why a thread of the port stopped early (the manager gone, the endpoint cut off), or null. */
  failure(): string | null
  stopReceiving(): void
  stop(): void
}

export interface AfPacketOptions {
  interface: string
  blockSize?: number
  blocks?: number
  blockTimeoutMs?: number
  promiscuous?: boolean
}

export interface AfPacketStats {
  rxFrames: number
  rxBytes: number
  txFrames: number
  txBytes: number
  kernelDrops: number
  oversize: number
  runts: number
  txErrors: number
  linkErrors: number
  poolWaits: number
  checksumsCompleted: number
}

export interface InterfaceInfo {
  index: number
  mtu: number
  /** Receive aggregation: frames far beyond the MTU reach the port (and are dropped as oversize). */
  gro: boolean
  lro: boolean
  txChecksum: boolean
}

type Offsets = Record<string, number>

export interface Layout {
  version: number
  maxSlots: number
  maxServices: number
  maxGates: number
  nameLength: number
  chainFileLength: number
  noService: number
  /** A route value: the gate is held shut for a moment; what is sent to it waits, in order. */
  pausedRoute: number
  /** ManagerSide.instance of a slot no endpoint has been taken on in yet. */
  unnumbered: number
  ringsPerSlot: number
  /** Bytes of a ring entry: a u64 whose low 16 bits are the buffer index (native/layout.h Entry). */
  entryBytes: number
  page: number
  /** lost: on a trace copy only, a packet that had no route. */
  action: { gate: number; to: number; drop: number; lost: number; gateOf: number; toInstance: number; invalid: number }
  /** The highest instance number a handoff (action.toInstance) can name. */
  maxInstanceNumber: number
  /** A drop's argument for a packet consumed (it ended there): no loss. */
  dropConsumed: number
  /** A drop's argument above the consumed bit: 1 + the group member that decided it, 0 for the sender. */
  dropAsShift: number
  /** The tag bit of a handoff's argument (after the instance number's bits). */
  handoffTag: number
  /** A capture endpoint's service id and its taps' kinds (a tap word: service | gate << 16 | kind << 24). */
  capture: { service: number; maxTaps: number; maxCaptures: number; rx: number; gate: number; tx: number; trace: number }
  slotState: { free: number; active: number; detaching: number; faulted: number; waiting: number }
  claimState: { none: number; active: number; detaching: number }
  header: Offsets
  doorbell: Offsets
  managerCounters: Offsets
  meta: Offsets & { size: number }
  ringProducer: Offsets
  ringConsumer: Offsets
  endpointSide: Offsets
  captureTaps: Offsets
  managerSide: Offsets
  endpointCounters: Offsets
  routeCounters: Offsets
  nfCounters: Offsets & { max: number; nameLength: number }
  service: Offsets & { size: number }
}

interface Addon {
  Region: {
    create(prefix: string, options?: RegionOptions): NativeRegion
    attach(prefix: string, readOnly?: boolean): NativeRegion
    /** Removes /dev/shm/xio.<prefix> if no live manager holds it; true if it did. */
    removeIfStale(prefix: string): boolean
  }
  /** capture true: a capture endpoint (its name is its own, capture:<pid>), see src/xio/capture.ts. */
  Endpoint: new (region: NativeRegion, name: string, spinUs?: number, capture?: boolean, instance?: number, also?: string[]) => NativeEndpoint
  AfPacket: new (endpoint: NativeEndpoint, options: AfPacketOptions) => NativeAfPacket
  RxWaiter: new () => NativeRxWaiter
  interfaceInfo(name: string): InterfaceInfo
  /** The flow hash the afpacket port gives a frame. */
  frameFlowHash(frame: Uint8Array): number
  layout: Layout
  schedYield(): void
  /**
   * schedYield for an endpoint of the manager's own process (id: the region's assistId()): on
   * the manager's CPU, while the manager is between passes, one of its passes instead. True if
   * no pass moved anything and this thread's CPU is shared with a busy task, where a yield
   * waits out that task's slice (milliseconds): the wait should sleep on its futex instead.
   */
  assistManager(id: number): boolean
  /** The wait that assisted is over; sleeping: the endpoint goes to sleep, and the manager's thread takes over at once. */
  endAssist(id: number, sleeping?: boolean): void
  setAffinity(cpus: number[]): void
  /** Has the kernel kill this process when its parent dies; false if parentPid is not its parent (gone already). */
  dieWithParent(parentPid: number): boolean
  /** An exclusive flock on an open file without waiting; false if another holds one. */
  lockFile(fd: number): boolean
}

const require = createRequire(import.meta.url)
export const addon: Addon = require('../../build/Release/xio.node')
export const layout: Layout = addon.layout

/** An exclusive flock on an open file without waiting; false if another open file holds one. */
export const lockFile = (fd: number): boolean => addon.lockFile(fd)

/** Pins this whole process to the given CPUs (the launcher places NFs away from the manager). */
export const setAffinity = (cpus: number[]): void => addon.setAffinity(cpus)
