// Generated from src/nfs/router/config.schema.json by npm run schema:types. Do not edit.

/**
 * An address on a link with the link's prefix, as `ip addr add` takes it: "10.0.0.1/24" (host bits set on purpose; prefix at most /31).
 *
 * This interface was referenced by `RouterConfig`'s JSON-Schema
 * via the `definition` "InterfaceAddress".
 */
export type InterfaceAddress = string;
/**
 * A MAC address, six hex bytes separated by ':' (or '-').
 *
 * This interface was referenced by `RouterConfig`'s JSON-Schema
 * via the `definition` "Mac".
 */
export type Mac = string;
/**
 * A dotted-quad IPv4 address (decimal, no leading zeros, as inet_pton reads it).
 *
 * This interface was referenced by `RouterConfig`'s JSON-Schema
 * via the `definition` "Ipv4".
 */
export type Ipv4 = string;

/**
 * One leg of a router: sits between a port on a link and the rest of the chain. Answers ARP for its address, resolves its neighbours (holding packets meanwhile), rewrites MACs, decrements TTL and answers its expiry with ICMP time exceeded, as a Linux router does.
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
