// Generated from src/nfs/l2fwd/config.schema.json by npm run schema:types. Do not edit.

/**
 * A MAC address, six hex bytes separated by ':' (or '-').
 *
 * This interface was referenced by `L2FwdConfig`'s JSON-Schema
 * via the `definition` "Mac".
 */
export type Mac = string;

/**
 * Rewrites the Ethernet addresses and sends the frame on, as DPDK l2fwd and OpenNetVM simple_forward do. By default it swaps source and destination MAC; src and/or dst set fixed addresses instead (the other one is still taken from the swap).
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
