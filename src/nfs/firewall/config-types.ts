// Generated from src/nfs/firewall/config.schema.json by npm run schema:types. Do not edit.

/**
 * IP protocol: "tcp", "udp", "icmp" (IPv4's, 1), "icmpv6" (IPv6's, 58) or a protocol number (0-255; for IPv6 the next header after the extension headers).
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "Proto".
 */
export type Proto = ("tcp" | "udp" | "icmp" | "icmpv6") | number;
/**
 * An IPv4 address (a /32) or prefix "a.b.c.d/n". The NFs refuse host bits set below the prefix ("10.0.0.5/8" is more often a typo than a wish).
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "Cidr".
 */
export type Cidr = string;
/**
 * An IPv6 address (a /128) or prefix "2001:db8::/32", as RFC 4291 writes them: "::" for a run of zero groups, a dotted-quad tail as in "::ffff:192.0.2.1", no zone. The NFs refuse host bits set below the prefix, as for IPv4.
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "Ipv6Cidr".
 */
export type Ipv6Cidr = string;
/**
 * A TCP or UDP port.
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "Port".
 */
export type Port = number;
/**
 * Ports low to high, both included, as text: "8000-8499" (low must not be above high).
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "PortRangeText".
 */
export type PortRangeText = string;
/**
 * Name(s) of the endpoint(s) where the packet entered the chain (its ingress port); each must name an endpoint of the chain.
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "EndpointNames".
 */
export type EndpointNames = string | [string, ...string[]];
/**
 * A port (53), a range as text ("1024-65535"), or a non-empty list of ports and ranges ([80, 443, "8000-8499"]). A list is always a list: [80, 443] is ports 80 and 443, never the ports between them.
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "Ports".
 */
export type Ports = Port | PortRangeText | [Port | PortRangeText, ...(Port | PortRangeText)[]];
/**
 * An IPv4 or IPv6 address or prefix, or a non-empty list of them. The firewall refuses a list that mixes the two families.
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "IpCidrs".
 */
export type IpCidrs = Cidr | Ipv6Cidr | [Cidr | Ipv6Cidr, ...(Cidr | Ipv6Cidr)[]];
/**
 * An idle timeout in seconds.
 *
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
 * via the `definition` "Seconds".
 */
export type Seconds = number;

/**
 * An ordered rule list, first match wins, with a default policy, over IPv4 and IPv6 (an nftables base chain of the inet family). With stateful, replies and related ICMP and ICMPv6 errors of allowed flows pass before any rule.
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
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
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
 * This interface was referenced by `FirewallConfig`'s JSON-Schema
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
