// Flow lifetimes shared by connection tracking (firewall) and NAT mappings: a flow is NEW
// until its reply direction is seen, then REPLIED (TCP: established), and CLOSING once a FIN
// or RST goes by, which shortens its timeout to the transitory one as Linux conntrack does.

import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/ipv4.ts'
import { IPPROTO_ICMPV6 } from '../../packet/ipv6.ts'
import { TCP_FIN, TCP_RST } from '../../packet/tcp.ts'
import { fail, objectAt, positiveAt, type Json } from './config.ts'

// Module-local copies of imported constants: TurboFan folds these, not imported bindings.
const _IPPROTO_ICMP = IPPROTO_ICMP
const _IPPROTO_ICMPV6 = IPPROTO_ICMPV6
const _IPPROTO_TCP = IPPROTO_TCP
const _IPPROTO_UDP = IPPROTO_UDP
const _TCP_FIN = TCP_FIN
const _TCP_RST = TCP_RST

export const FLOW_NEW = 0
export const FLOW_REPLIED = 1
export const FLOW_CLOSING = 2

/**
 * Idle timeouts by kind of flow: seconds as a config gives them, milliseconds once read.
 * Which of them a user may set, and their defaults, are each NF's timeouts in
 * config schemas (FirewallTimeouts, NatTimeouts).
 */
export interface Timeouts {
  /** TCP after the reply direction is seen and before any FIN or RST. */
  tcpEstablished: number
  /** TCP before a reply (SYN sent) and after a FIN or RST. */
  tcpTransitory: number
  /** UDP once both directions have been seen. */
  udp: number
  /** UDP seen in one direction only. */
  udpUnreplied: number
  /** ICMP queries (echo, timestamp) and ICMPv6 echo. */
  icmp: number
  /** Any other IP protocol (firewall only). */
  other: number
}

/** Reads the `timeouts` object (seconds) over the defaults; `known` limits the fields a user may set. */
export function timeoutsAt(v: Json, path: string, defaults: Timeouts, known: readonly string[] = Object.keys(defaults)): Timeouts {
  const t = { ...defaults }
  if (v === undefined) return scaled(t)
  const o = objectAt(v, path, known)
  for (const k of Object.keys(o) as (keyof Timeouts)[]) t[k] = positiveAt(o[k], `${path}/${k}`)
  if (t.tcpEstablished < t.tcpTransitory) fail(`${path}/tcpEstablished`, `${t.tcpEstablished} s is shorter than tcpTransitory (${t.tcpTransitory} s)`)
  return scaled(t)
}

function scaled(t: Timeouts): Timeouts {
  const r = { ...t }
  for (const k of Object.keys(r) as (keyof Timeouts)[]) r[k] = t[k] * 1000
  return r
}

/** The state after a packet of the flow; `reply` is true for the direction that did not open it. */
export function nextFlowState(state: number, proto: number, reply: boolean, tcpFlags: number): number {
  if (proto === _IPPROTO_TCP && (tcpFlags & (_TCP_FIN | _TCP_RST)) !== 0) return FLOW_CLOSING
  if (reply && state === FLOW_NEW) return FLOW_REPLIED
  return state
}

/** Idle timeout in ms for a flow of this protocol in this state. */
export function flowTimeout(t: Timeouts, proto: number, state: number): number {
  if (proto === _IPPROTO_TCP) return state === FLOW_REPLIED ? t.tcpEstablished : t.tcpTransitory
  if (proto === _IPPROTO_UDP) return state === FLOW_NEW ? t.udpUnreplied : t.udp
  if (proto === _IPPROTO_ICMP || proto === _IPPROTO_ICMPV6) return t.icmp
  return t.other
}

// An idle table (no packets for a while) is swept whole when its next entry expires, not in
// slices every tick; no more often than the first, nor less than the second, so the clock saved
// at a sweep (../lib/state.ts) is never long behind: a NAT restarted after a rest carries on
// from it, and the time since counts against no timeout.
const IDLE_SWEEP_MIN_MS = 1000
const IDLE_SWEEP_MAX_MS = 10_000

/**
 * What an NF's idle() returns for a table swept whole at `now` whose next entry expires at
 * `soonest` (Infinity: the table is empty, and needs nothing until a packet comes).
 */
export function idleSweepIn(soonest: number, now: number): number {
  if (soonest === Infinity) return Infinity
  return Math.min(IDLE_SWEEP_MAX_MS, Math.max(IDLE_SWEEP_MIN_MS, soonest - now))
}
