// Generated from chains/chain.schema.json by npm run schema:types. Do not edit.

/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Endpoint".
 */
export type Endpoint =
  | L2FwdEndpoint
  | FirewallEndpoint
  | NatEndpoint
  | RouterEndpoint
  | ModuleEndpoint
  | PcapPort
  | AfPacketPort
  | GeneratorPort
  | SinkPort;
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
 * IP protocol: "tcp", "udp", "icmp" (IPv4's, 1), "icmpv6" (IPv6's, 58) or a protocol number (0-255; for IPv6 the next header after the extension headers).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Proto".
 */
export type Proto = ("tcp" | "udp" | "icmp" | "icmpv6") | number;
/**
 * An IPv4 address (a /32) or prefix "a.b.c.d/n". The NFs refuse host bits set below the prefix ("10.0.0.5/8" is more often a typo than a wish).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Cidr".
 */
export type Cidr = string;
/**
 * An IPv6 address (a /128) or prefix "2001:db8::/32", as RFC 4291 writes them: "::" for a run of zero groups, a dotted-quad tail as in "::ffff:192.0.2.1", no zone. The NFs refuse host bits set below the prefix, as for IPv4.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Ipv6Cidr".
 */
export type Ipv6Cidr = string;
/**
 * A TCP or UDP port.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Port".
 */
export type Port = number;
/**
 * Ports low to high, both included, as text: "8000-8499" (low must not be above high).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "PortRangeText".
 */
export type PortRangeText = string;
/**
 * Name(s) of the endpoint(s) where the packet entered the chain (its ingress port); each must name an endpoint of the chain.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "EndpointNames".
 */
export type EndpointNames = string | [string, ...string[]];
/**
 * External ports (and ICMP identifiers) to hand out, [low, high], both included. Default: [20000, 59999].
 *
 * @minItems 2
 * @maxItems 2
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NatPorts".
 */
export type NatPorts = [number, number];
/**
 * An address on a link with the link's prefix, as `ip addr add` takes it: "10.0.0.1/24" (host bits set on purpose; prefix at most /31).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "InterfaceAddress".
 */
export type InterfaceAddress = string;
/**
 * A MAC address, six hex bytes separated by ':' (or '-').
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Mac".
 */
export type Mac = string;
/**
 * A dotted-quad IPv4 address (decimal, no leading zeros, as inet_pton reads it).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Ipv4".
 */
export type Ipv4 = string;
/**
 * An IPv4 address or prefix, or a non-empty list of them.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Cidrs".
 */
export type Cidrs = Cidr | [Cidr, ...Cidr[]];
/**
 * An IPv4 or IPv6 address or prefix, or a non-empty list of them. The firewall refuses a list that mixes the two families.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "IpCidrs".
 */
export type IpCidrs = Cidr | Ipv6Cidr | [Cidr | Ipv6Cidr, ...(Cidr | Ipv6Cidr)[]];
/**
 * A port (53), a range as text ("1024-65535"), or a non-empty list of ports and ranges ([80, 443, "8000-8499"]). A list is always a list: [80, 443] is ports 80 and 443, never the ports between them.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Ports".
 */
export type Ports = Port | PortRangeText | [Port | PortRangeText, ...(Port | PortRangeText)[]];
/**
 * An idle timeout in seconds.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "Seconds".
 */
export type Seconds = number;

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
 * Rewrites the Ethernet addresses and sends the frame on, as DPDK l2fwd and OpenNetVM simple_forward do. By default it swaps source and destination MAC; src and/or dst set fixed addresses instead (the other one is still taken from the swap).
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "L2fwdConfig".
 */
export interface L2FwdConfig {
  /**
   * Source MAC to write, e.g. "02:00:00:00:00:01". Default: the frame's destination MAC.
   */
  src?: string;
  /**
   * Destination MAC to write. Default: the frame's source MAC.
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
 * An ordered rule list, first match wins, with a default policy, over IPv4 and IPv6 (an nftables base chain of the inet family). With stateful, replies and related ICMP and ICMPv6 errors of allowed flows pass before any rule.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "FirewallConfig".
 */
export interface FirewallConfig {
  /**
   * Policy for IPv4 and IPv6 packets no rule matches. With drop, allow ICMPv6 (neighbour discovery) for IPv6 hosts to keep their links, as ARP for IPv4. Default: allow, as a new iptables chain (ACCEPT).
   */
  default?: "allow" | "drop";
  /**
   * Policy for frames that are not IP (ARP, other EtherTypes). Default: allow, so ARP works; validate warns when default is drop and this is allow.
   */
  nonIp?: "allow" | "drop";
  /**
   * Checked in order; the first that matches decides.
   */
  rules?: FirewallRule[];
  /**
   * Let replies and related ICMP and ICMPv6 errors of allowed flows pass before the rules, as `ct state established,related accept` at the top of a chain does. Default: false.
   */
  stateful?: boolean;
  timeouts?: FirewallTimeouts;
  /**
   * Most flows tracked at once (stateful); beyond it new flows pass untracked and are counted. Default: 65536.
   */
  conntrackSize?: number;
  /**
   * Flows whose rule decision is cached (two-way set-associative, rounded up to a power of two). Default: 65536.
   */
  flowCacheSize?: number;
}
/**
 * One rule: it matches a packet when every field it has matches. A rule naming IPv4 addresses or proto icmp (1) matches IPv4 only, one naming IPv6 addresses or icmpv6 (58) IPv6 only, any other both (as in an nftables inet chain); src and dst must be of one family. Port constraints only match TCP and UDP packets with ports (not ICMP, not non-first fragments); without proto they mean tcp or udp, and with another proto they are refused.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "FirewallRule".
 */
export interface FirewallRule {
  /**
   * What to do with a packet this rule matches first.
   */
  action: "allow" | "drop";
  proto?: Proto;
  /**
   * Source address or prefix ("10.0.0.0/8", "2001:db8::/32"), or a list of them. Any if absent.
   */
  src?: Cidr | Ipv6Cidr | [Cidr | Ipv6Cidr, ...(Cidr | Ipv6Cidr)[]];
  /**
   * Destination address or prefix, or a list of them. Any if absent.
   */
  dst?: Cidr | Ipv6Cidr | [Cidr | Ipv6Cidr, ...(Cidr | Ipv6Cidr)[]];
  /**
   * Source port(s). Any if absent.
   */
  srcPort?: Port | PortRangeText | [Port | PortRangeText, ...(Port | PortRangeText)[]];
  /**
   * Destination port(s). Any if absent.
   */
  dstPort?: Port | PortRangeText | [Port | PortRangeText, ...(Port | PortRangeText)[]];
  in?: EndpointNames;
  /**
   * Free text for people reading the spec.
   */
  comment?: string;
}
/**
 * Connection-tracking idle timeouts in seconds, by default Linux conntrack's. tcpEstablished must not be shorter than tcpTransitory.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "FirewallTimeouts".
 */
export interface FirewallTimeouts {
  /**
   * TCP after the reply direction is seen and before any FIN or RST. Default: 432000 (5 days).
   */
  tcpEstablished?: number;
  /**
   * TCP before a reply (SYN sent) and after a FIN or RST. Default: 120.
   */
  tcpTransitory?: number;
  /**
   * UDP once both directions have been seen (Linux's "stream"). Default: 120.
   */
  udp?: number;
  /**
   * UDP seen in one direction only. Default: 30.
   */
  udpUnreplied?: number;
  /**
   * ICMP queries (echo, timestamp) and ICMPv6 echo. Default: 30.
   */
  icmp?: number;
  /**
   * Any other IP protocol. Default: 600.
   */
  other?: number;
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
 * Source NAT (masquerade) for an inside network, with port forwards (DNAT) to inside hosts, as Linux's masquerade and dnat to do.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NatConfig".
 */
export interface NatConfig {
  /**
   * The external (public) IPv4 address outbound packets leave with.
   */
  external: string;
  /**
   * Inside source prefix(es) to masquerade, e.g. "10.0.0.0/8". Default: every source from the inside.
   */
  inside?: Cidr | [Cidr, ...Cidr[]];
  ports?: NatPorts;
  timeouts?: NatTimeouts;
  /**
   * Port forwards (DNAT) from the external address to inside hosts; one per protocol and port.
   */
  forwards?: NatForward[];
  /**
   * Most sessions at once (all protocols, forwards included). Default: 65536.
   */
  maxMappings?: number;
}
/**
 * Session idle timeouts in seconds (a mapping, an inside endpoint's external port, lasts while any of its sessions does). tcpEstablished must not be shorter than tcpTransitory.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NatTimeouts".
 */
export interface NatTimeouts {
  /**
   * TCP after the reply direction is seen and before any FIN or RST. Default: 7440, the RFC 5382 minimum.
   */
  tcpEstablished?: number;
  /**
   * TCP before a reply and after a FIN or RST. Default: 240 (RFC 5382).
   */
  tcpTransitory?: number;
  /**
   * UDP once both directions have been seen. Default: 120, RFC 4787's minimum and Linux's stream timeout.
   */
  udp?: number;
  /**
   * UDP seen in one direction only. Default: 30 (Linux conntrack).
   */
  udpUnreplied?: number;
  /**
   * ICMP queries (echo, timestamp). Default: 30 (Linux conntrack).
   */
  icmp?: number;
}
/**
 * A port forward: new flows to this external port go on to an inside host.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "NatForward".
 */
export interface NatForward {
  /**
   * "tcp" or "udp".
   */
  proto: "tcp" | "udp";
  /**
   * A TCP or UDP port.
   */
  port: number;
  /**
   * Inside host, "10.0.0.5:80"; without ":port" the same port.
   */
  to: string;
}
/**
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "RouterEndpoint".
 */
export interface RouterEndpoint {
  kind: "router";
  instances?: Instances;
  cpu?: Cpu;
  config: RouterConfig;
}
/**
 * One leg of a router: sits between a port on a link and the rest of the chain. Answers ARP for its address, resolves its neighbours (holding packets meanwhile), rewrites MACs, decrements TTL and answers its expiry with ICMP time exceeded, as a Linux router does.
 *
 * This interface was referenced by `ChainSpec`'s JSON-Schema
 * via the `definition` "RouterConfig".
 */
export interface RouterConfig {
  address: InterfaceAddress;
  /**
   * The router's MAC on this link, unicast (default: 02:78:69 followed by the last three bytes of the address).
   */
  mac?: string;
  /**
   * Next hop for destinations outside the link's prefix, itself on the link (default: none; such packets are dropped, counted as noRoute).
   */
  gateway?: string;
  /**
   * Static neighbours on the link, IPv4 address to MAC (as `ip neigh add ... permanent`).
   */
  neighbours?: {
    [k: string]: Mac;
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
   * An IPv4 address (a /32) or prefix "a.b.c.d/n". The NFs refuse host bits set below the prefix ("10.0.0.5/8" is more often a typo than a wish).
   */
  src?: string;
  /**
   * An IPv4 address (a /32) or prefix "a.b.c.d/n". The NFs refuse host bits set below the prefix ("10.0.0.5/8" is more often a typo than a wish).
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
