// ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861). The header is laid out as ICMP's: type,
// code, checksum, then four bytes that echo uses for its identifier and sequence number (the
// ICMP_* offsets of icmp.ts apply). Errors (types below 128) quote as much of the offending
// packet as fits in the minimum MTU, its IPv6 header first.

export const ICMPV6_DEST_UNREACH = 1
export const ICMPV6_PACKET_TOO_BIG = 2
export const ICMPV6_TIME_EXCEEDED = 3
export const ICMPV6_PARAMETER_PROBLEM = 4
export const ICMPV6_ECHO_REQUEST = 128
export const ICMPV6_ECHO_REPLY = 129
export const ICMPV6_ROUTER_SOLICIT = 133
export const ICMPV6_ROUTER_ADVERT = 134
export const ICMPV6_NEIGHBOUR_SOLICIT = 135
export const ICMPV6_NEIGHBOUR_ADVERT = 136
export const ICMPV6_REDIRECT = 137

/** Echo request and reply: the queries whose identifier names a flow. */
export function icmpv6IsQuery(type: number): boolean {
  return type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY
}

export function icmpv6IsRequest(type: number): boolean {
  return type === ICMPV6_ECHO_REQUEST
}

/** The errors that quote a packet (the "related" traffic of connection tracking). */
export function icmpv6IsError(type: number): boolean {
  return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMETER_PROBLEM
}

/** Neighbor Discovery: IPv6's ARP and router discovery; a firewall that drops it cuts a link's hosts off. */
export function icmpv6IsNeighbourDiscovery(type: number): boolean {
  return type >= ICMPV6_ROUTER_SOLICIT && type <= ICMPV6_REDIRECT
}
