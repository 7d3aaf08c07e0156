// Generated from chains/chain.schema.json by npm run schema:types. Do not edit.

/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Endpoint".
 */
export type Endpoint = L2FwdEndpoint | FirewallEndpoint | NatEndpoint | PcapPort | GeneratorPort | SinkPort;
/**
 * Processes running this NF; flows are spread over them by flow hash.
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
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Proto".
 */
export type Proto = ("tcp" | "udp" | "icmp") | number;
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Cidrs".
 */
export type Cidrs = Cidr | [Cidr, ...Cidr[]];
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Cidr".
 */
export type Cidr = string;
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Ports".
 */
export type Ports = Port | PortRange | [Port | PortRange, ...(Port | PortRange)[]];
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Port".
 */
export type Port = number;
/**
 * @minItems 2
 * @maxItems 2
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "PortRange".
 */
export type PortRange = [Port, Port];
/**
 * External ports handed out (default [20000, 59999]).
 *
 * @minItems 2
 * @maxItems 2
 */
export type PortRange1 = [Port, Port];
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Mac".
 */
export type Mac = string;
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Ipv4".
 */
export type Ipv4 = string;

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
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "L2fwdEndpoint".
 */
export interface L2FwdEndpoint {
  kind: "l2fwd";
  instances?: Instances;
  cpu?: Cpu;
  config?: L2FwdConfig;
}
/**
 * Rewrites Ethernet addresses, as DPDK l2fwd does. Without src and dst it swaps them.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "L2fwdConfig".
 */
export interface L2FwdConfig {
  /**
   * Source MAC to write (default: the frame's destination).
   */
  src?: string;
  /**
   * Destination MAC to write (default: the frame's source).
   */
  dst?: string;
}
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "FirewallEndpoint".
 */
export interface FirewallEndpoint {
  kind: "firewall";
  instances?: Instances;
  cpu?: Cpu;
  config?: FirewallConfig;
}
/**
 * Ordered rules, first match wins, else the default policy (as an nftables chain with a policy).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "FirewallConfig".
 */
export interface FirewallConfig {
  /**
   * Policy when no rule matches (default allow).
   */
  default?: "allow" | "drop";
  /**
   * Packets that are not IPv4, ARP included (default allow).
   */
  nonIp?: "allow" | "drop";
  /**
   * Let replies of allowed flows back in, like ct state established,related accept.
   */
  stateful?: boolean;
  /**
   * Connection-tracking timeouts in seconds.
   */
  timeouts?: {
    tcp?: number;
    udp?: number;
    icmp?: number;
  };
  rules?: FirewallRule[];
}
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "FirewallRule".
 */
export interface FirewallRule {
  action: "allow" | "drop";
  proto?: Proto;
  src?: Cidrs;
  dst?: Cidrs;
  srcPort?: Ports;
  dstPort?: Ports;
  /**
   * Name of the port the packet entered the chain through.
   */
  in?: string;
  comment?: string;
}
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NatEndpoint".
 */
export interface NatEndpoint {
  kind: "nat";
  instances?: Instances;
  cpu?: Cpu;
  config: NatConfig;
}
/**
 * Source NAT (masquerade) for an inside network, and port forwards to inside hosts.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NatConfig".
 */
export interface NatConfig {
  /**
   * The outside address translated packets carry.
   */
  external: string;
  /**
   * Sources that are masqueraded (default: every source).
   */
  inside?: Cidr | [Cidr, ...Cidr[]];
  ports?: PortRange1;
  /**
   * Mapping timeouts in seconds.
   */
  timeouts?: {
    tcpEstablished?: number;
    tcpTransitory?: number;
    udp?: number;
    icmp?: number;
  };
  /**
   * Port forwards (DNAT) from the external address to inside hosts.
   */
  forwards?: {
    proto: "tcp" | "udp";
    port: Port;
    to: string;
  }[];
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
