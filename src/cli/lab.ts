// The lab: two network namespaces with hosts in them, each joined by a veth pair to the root
// namespace, where a chain with afpacket ports on xl-lan and xl-wan is the router between them.
//
//   namespace lan: eth0 10.0.0.2/24, default via 10.0.0.1      veth  xl-lan (root, no address)
//   namespace wan: eth0 203.0.113.2/24 (that network only)      veth  xl-wan (root, no address)
//
// The root ends carry no address and no IPv6, so the root namespace's kernel neither answers
// nor originates anything on them: everything the hosts see comes from the chain. The hosts'
// ends compute their own checksums and send MTU-sized frames (no checksum, segmentation or
// receive offloads): a veth otherwise hands a packet socket unfinished checksums and 64 KB
// segments that no real wire carries.
import { execFileSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'

export interface LabSide {
  namespace: string
  /** The root-namespace end, for the chain's afpacket port. */
  interface: string
  host: string
  prefix: number
  /** Where the host sends what is not on its link (none: only its own network). */
  gateway?: string
  /** The chain's address on this link. */
  router: string
}

export const LAB: Record<'lan' | 'wan', LabSide> = {
  lan: { namespace: 'lan', interface: 'xl-lan', host: '10.0.0.2', prefix: 24, gateway: '10.0.0.1', router: '10.0.0.1' },
  wan: { namespace: 'wan', interface: 'xl-wan', host: '203.0.113.2', prefix: 24, router: '203.0.113.1' },
}

/** The hosts' end of each veth, inside its namespace. */
const HOST_INTERFACE = 'eth0'

export class LabError extends Error {}

/**
 * PATH for the system's own tools (ip, ethtool, sysctl, nft), which a user's PATH may lack:
 * the system folders first, so that a package's command of the same name (npm puts its
 * node_modules/.bin first) is not taken for them.
 */
export const SYSTEM_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin', process.env.PATH].filter(Boolean).join(':')

function tool(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: SYSTEM_PATH } })
  } catch (e) {
    const error = e as NodeJS.ErrnoException & { stderr?: string }
    if (error.code === 'ENOENT') throw new LabError(`the lab needs ${command} (Debian/Ubuntu: apt-get install ${command === 'ip' ? 'iproute2' : command})`)
    throw new LabError(`${command} ${args.join(' ')}: ${(error.stderr ?? error.message).trim()}`)
  }
}

const ip = (...args: string[]) => tool('ip', args)
const inNamespace = (namespace: string, command: string, ...args: string[]) => tool('ip', ['netns', 'exec', namespace, command, ...args])

function namespaces(): Set<string> {
  return new Set(ip('netns', 'list').split('\n').map((line) => line.split(' ')[0]).filter(Boolean))
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`)
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new LabError('the lab creates network namespaces and interfaces: run it as root')
}

/**
 * Keeps the root namespace's kernel off an interface a chain serves: no IPv6 (nothing it would
 * send), and no ARP answers for the root's own addresses (a lab address the machine happens
 * to own, answered by the kernel, would pull traffic past the chain).
 */
export function quietRootEnd(name: string): void {
  writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1')
  writeFileSync(`/proc/sys/net/ipv4/conf/${name}/arp_ignore`, '8')
}

function upSide(side: LabSide): void {
  if (!namespaces().has(side.namespace)) ip('netns', 'add', side.namespace)
  // The two ends of a veth live and die together, so a root end means its host end is there.
  if (!linkExists(side.interface)) {
    if (ip('-n', side.namespace, '-o', 'link', 'show').includes(` ${HOST_INTERFACE}@`)) ip('-n', side.namespace, 'link', 'del', HOST_INTERFACE)
    ip('link', 'add', side.interface, 'type', 'veth', 'peer', 'name', HOST_INTERFACE, 'netns', side.namespace)
  }
  quietRootEnd(side.interface)
  ip('link', 'set', side.interface, 'up')
  inNamespace(side.namespace, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1')
  inNamespace(side.namespace, 'ethtool', '-K', HOST_INTERFACE, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off')
  ip('-n', side.namespace, 'link', 'set', 'lo', 'up')
  ip('-n', side.namespace, 'addr', 'replace', `${side.host}/${side.prefix}`, 'dev', HOST_INTERFACE)
  ip('-n', side.namespace, 'link', 'set', HOST_INTERFACE, 'up')
  if (side.gateway) ip('-n', side.namespace, 'route', 'replace', 'default', 'via', side.gateway)
}

/** Makes the lab, or mends what is missing of it; running it twice changes nothing. */
export function labUp(): LabSide[] {
  requireRoot()
  const sides = [LAB.lan, LAB.wan]
  for (const side of sides) upSide(side)
  return sides
}

/** Processes still running in a namespace (`ip netns pids`). */
function pidsIn(namespace: string): number[] {
  return ip('netns', 'pids', namespace).split('\n').filter(Boolean).map(Number)
}

/**
 * Removes the namespaces and both veth pairs; nothing of the lab is left, whatever was there.
 * Programs still running in a namespace are stopped first: they would keep it alive, nameless.
 */
export function labDown(): string[] {
  requireRoot()
  const removed: string[] = []
  const present = namespaces()
  for (const side of [LAB.lan, LAB.wan]) {
    if (!present.has(side.namespace)) continue
    const pids = pidsIn(side.namespace)
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    if (pids.length) removed.push(`${pids.length} process(es) in ${side.namespace}`)
  }
  for (const side of [LAB.lan, LAB.wan]) {
    // The root end first: that removes both ends at once (a namespace's devices go later, in
    // the background, when the namespace is deleted).
    if (linkExists(side.interface)) {
      ip('link', 'del', side.interface)
      removed.push(`interface ${side.interface}`)
    }
    if (present.has(side.namespace)) {
      ip('netns', 'del', side.namespace)
      removed.push(`namespace ${side.namespace}`)
    }
  }
  return removed
}
