// Generated from src/nfs/nat/config.schema.json by npm run schema:types. Do not edit.

/**
 * An IPv4 address (a /32) or prefix "a.b.c.d/n". The NFs refuse host bits set below the prefix ("10.0.0.5/8" is more often a typo than a wish).
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "Cidr".
 */
export type Cidr = string;
/**
 * External ports (and ICMP identifiers) to hand out, [low, high], both included. Default: [20000, 59999].
 *
 * @minItems 2
 * @maxItems 2
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "NatPorts".
 */
export type NatPorts = [number, number];
/**
 * A TCP or UDP port.
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "Port".
 */
export type Port = number;
/**
 * An idle timeout in seconds.
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "Seconds".
 */
export type Seconds = number;
/**
 * An IPv4 address or prefix, or a non-empty list of them.
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "Cidrs".
 */
export type Cidrs = Cidr | [Cidr, ...Cidr[]];
/**
 * A dotted-quad IPv4 address (decimal, no leading zeros, as inet_pton reads it).
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "Ipv4".
 */
export type Ipv4 = string;

/**
 * Source NAT (masquerade) for an inside network, with port forwards (DNAT) to inside hosts, as Linux's masquerade and dnat to do.
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
   * Most sessions at once (all protocols, forwards included), per instance. Default: 65536.
   */
  maxMappings?: number;
}
/**
 * Session idle timeouts in seconds (a mapping, an inside endpoint's external port, lasts while any of its sessions does). tcpEstablished must not be shorter than tcpTransitory.
 *
 * This interface was referenced by `NatConfig`'s JSON-Schema
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
 * This interface was referenced by `NatConfig`'s JSON-Schema
 * via the `definition` "NatForward".
 */
export interface NatForward {
  /**
   * "tcp" or "udp".
   */
  proto: "tcp" | "udp";
  /**
   * External port the forward listens on (taken out of the dynamic range if inside it).
   */
  port: number;
  /**
   * Inside host, "10.0.0.5:80"; without ":port" the same port.
   */
  to: string;
}
