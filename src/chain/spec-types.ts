// Generated from src/chain/spec.schema.json by npm run schema:types. Do not edit.

/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Endpoint".
 */
export type Endpoint =
  NfEndpoint | ModuleEndpoint | PcapPort | AfPacketPort | GeneratorPort | SinkPort | ServiceEndpoint;
/**
 * Processes running this NF; flows are spread over them by flow hash. A NAT spreads by handoff (each instance holds every N-th port) and a router leg copies the ARP it learns from to its other instances; for both, the count is fixed while the chain runs.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Instances".
 */
export type Instances = number;
/**
 * CPUs this endpoint's processes may run on (default: all but the manager's).
 *
 * @minItems 1
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Cpu".
 */
export type Cpu = [number, ...number[]];
/**
 * A placement group: the NFs that name it run in one process per instance, run to completion (BESS, VPP style): a link between two of them is a call, with no ring and no pass through the manager. Its members must be linked to one another and have the same instances and CPUs (a cpu list given on one member, or the same on each). Without one, each NF runs in its own processes (isolation).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Group".
 */
export type Group = string;
/**
 * An IPv4 address (a /32) or prefix "a.b.c.d/n". The NFs refuse host bits set below the prefix ("10.0.0.5/8" is more often a typo than a wish).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Cidr".
 */
export type Cidr = string;

/**
 * An xio-chain chain: its endpoints (NFs and ports) and the links from each endpoint's gates to the next endpoint.
 */
export interface ChainSpec {
  $schema?: string;
  /**
   * A name for people; shown by the dashboard.
   */
  name?: string;
  description?: string;
  /**
   * Shared data prefix: the region is /dev/shm/xio.<prefix>. Default: the spec file's name.
   */
  prefix?: string;
  pool?: Pool;
  manager?: ManagerSettings;
  /**
   * Endpoints by name. A name is how links, counters and the dashboard refer to it.
   */
  endpoints: {
    [k: string]: Endpoint;
  };
  /**
   * Links, each "from -> to" or "from.gate -> to"; without a gate, the endpoint's first gate.
   */
  links: string[];
}
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Pool".
 */
export interface Pool {
  /**
   * Packet buffers in the pool (default 16384).
   */
  buffers?: number;
  /**
   * Bytes per buffer, 64 of metadata and 128 of headroom included (default 2048).
   */
  bufferSize?: number;
  /**
   * Descriptors per ring (default 1024).
   */
  ringSize?: 64 | 128 | 256 | 512 | 1024 | 2048 | 4096 | 8192 | 16384;
}
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "ManagerSettings".
 */
export interface ManagerSettings {
  /**
   * CPU the manager thread is pinned to (default 0; NFs go on the others).
   */
  cpu?: number;
  /**
   * Descriptors moved per ring per poll (default 32).
   */
  burst?: number;
  /**
   * Microseconds of polling without work before the manager sleeps (default 100).
   */
  spinUs?: number;
}
/**
 * A built-in NF. The composed schema (chains/chain.schema.json) has one of these per built-in, its kind fixed and its config the NF's own schema.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NfEndpoint".
 */
export interface NfEndpoint {
  /**
   * The NF's kind: the name of a built-in NF (src/nfs/index.ts)
   */
  kind: string;
  instances?: Instances;
  cpu?: Cpu;
  group?: Group;
  /**
   * The NF's config, as its own schema says.
   */
  config?: {
    [k: string]: unknown;
  };
}
/**
 * An NF of your own: a module whose default export is defineNF({ name, gates, config, create }). Its config is checked against the schema the module gives.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "ModuleEndpoint".
 */
export interface ModuleEndpoint {
  kind: "nf";
  /**
   * The module: a path relative to this spec (./nfs/ttl-guard.ts; .ts, .mts, .js, .mjs) or a package name resolved from this spec's folder.
   */
  module: string;
  instances?: Instances;
  cpu?: Cpu;
  group?: Group;
  /**
   * The module's config, as its own schema says.
   */
  config?: {
    [k: string]: unknown;
  };
}
/**
 * Reads a capture into the chain and/or writes what reaches it to a capture (classic pcap, Ethernet).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "PcapPort".
 */
export interface PcapPort {
  kind: "pcap";
  /**
   * Capture to replay into the chain, relative to the spec file.
   */
  input?: string;
  /**
   * Capture to write what reaches this port to, relative to the spec file.
   */
  output?: string;
  /**
   * "top" (as fast as the chain takes it), "timed" (the capture's own timing), or packets per second.
   */
  speed?: ("top" | "timed") | number;
  /**
   * Times to replay the input (0: forever; default 1).
   */
  loop?: number;
}
/**
 * A Linux interface: frames it receives enter the chain, frames that reach this port are sent on it (AF_PACKET, TPACKET_V3; one copy each way between the kernel's ring and a pool buffer).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "AfPacketPort".
 */
export interface AfPacketPort {
  kind: "afpacket";
  /**
   * Interface name, as `ip link` shows it (e.g. xl-lan).
   */
  interface: string;
  /**
   * Bytes per block of the kernel's receive ring, a power of two (default 262144).
   */
  blockSize?: number;
  /**
   * Blocks in the receive ring (default 32: 8 MiB with the default block size).
   */
  blocks?: number;
  /**
   * The kernel hands over a block that is not full after this long: the longest a lone frame waits (default 1).
   */
  blockTimeoutMs?: number;
  /**
   * Receive frames addressed to any MAC (default true: the chain answers for addresses the interface itself does not have).
   */
  promiscuous?: boolean;
}
/**
 * Synthetic UDP or TCP traffic built in place in pool buffers.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "GeneratorPort".
 */
export interface GeneratorPort {
  kind: "generator";
  /**
   * Packets per second (default: as fast as the chain takes them).
   */
  rate?: number;
  /**
   * Packets to send, then stop (default: until the chain stops).
   */
  count?: number;
  /**
   * Frame size in bytes (default 64).
   */
  size?: number;
  /**
   * Distinct 5-tuples, sent round robin (default 64).
   */
  flows?: number;
  /**
   * Default udp.
   */
  proto?: "udp" | "tcp";
  /**
   * Source addresses are drawn from this network (default 10.0.0.0/16).
   */
  src?: string;
  /**
   * Destination network (default 198.51.100.0/24).
   */
  dst?: string;
  /**
   * Default 80.
   */
  dstPort?: number;
  /**
   * Number each flow's packets 0, 1, 2… in the IPv4 identification field (wrapping at 65536; the header checksum kept right), as pktgen and trafgen do, so a capture at the far end shows any packet lost or reordered. Default false.
   */
  sequence?: boolean;
}
/**
 * Counts what reaches it and frees it.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "SinkPort".
 */
export interface SinkPort {
  kind: "sink";
}
/**
 * A name an application process attaches to itself (xio-chain/net: sockets and HTTP over the rings); the chain declares it and starts nothing. One process at a time may attach to a service that dials out.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "ServiceEndpoint".
 */
export interface ServiceEndpoint {
  kind: "service";
}
