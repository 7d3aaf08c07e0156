// The NAT as RFC 4787 and RFC 5382 describe NATs, checked with real hosts through the lab,
// and beside Linux's own masquerade (nftables) on the same probes: endpoint-independent
// mapping, address- and port-dependent filtering, hairpinning.
import test from 'ava'
import { execFileSync, type ChildProcess } from 'node:child_process'
import { labDown, labUp, SYSTEM_PATH } from '../../src/cli/lab.ts'
import { inNamespace, runPeer, startChain, startPeer, stop, stopChain, type RunningCommand } from '../helpers/lab.ts'
import { root } from '../helpers/cli.ts'

const prefix = `t-natrfc-${process.pid}`
const env = { ...process.env, PATH: SYSTEM_PATH }
const ip = (...args: string[]) => execFileSync('ip', args, { env, stdio: 'pipe' }).toString()
let chain: RunningCommand
const peers: ChildProcess[] = []

// The Linux router the NAT is compared with: three namespaces of this file's own.
const L = { lan: `xo-lan-${process.pid}`, router: `xo-rtr-${process.pid}`, wan: `xo-wan-${process.pid}` }
// The second lan host for hairpinning, behind a bridge in namespace lan.
const LAN2 = `xio-lan2-${process.pid}`

interface Probe {
  seen: string[]
  unsolicited: number
}

async function probe(namespace: string, targets: string[]): Promise<Probe> {
  const r = await runPeer(namespace, ['nat-probe', '5000', ...targets])
  if (r.code !== 0) throw new Error(`nat-probe in ${namespace}: ${r.stdout} ${r.stderr}`)
  return JSON.parse(r.stdout) as Probe
}

function linuxRouter(): void {
  for (const ns of Object.values(L)) ip('netns', 'add', ns)
  ip('-n', L.router, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', L.lan)
  ip('-n', L.router, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', L.wan)
  ip('-n', L.router, 'addr', 'add', '10.0.0.1/24', 'dev', 'lan0')
  ip('-n', L.router, 'addr', 'add', '203.0.113.1/24', 'dev', 'wan0')
  ip('-n', L.lan, 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0')
  ip('-n', L.wan, 'addr', 'add', '203.0.113.2/24', 'dev', 'eth0')
  ip('-n', L.wan, 'addr', 'add', '203.0.113.3/24', 'dev', 'eth0')
  for (const [ns, dev] of [[L.router, 'lan0'], [L.router, 'wan0'], [L.lan, 'eth0'], [L.wan, 'eth0'], [L.lan, 'lo'], [L.wan, 'lo']])
    ip('-n', ns, 'link', 'set', dev, 'up')
  ip('-n', L.lan, 'route', 'add', 'default', 'via', '10.0.0.1')
  execFileSync('ip', ['netns', 'exec', L.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], { env })
  // What `xio-chain`'s NAT does, in nftables: masquerade what leaves for wan.
  execFileSync('ip', ['netns', 'exec', L.router, 'nft', '-f', '-'], {
    env,
    input: 'table ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat;\n    oifname "wan0" masquerade\n  }\n}\n',
  })
}

test.before(async () => {
  labUp()
  ip('-n', 'wan', 'addr', 'replace', '203.0.113.3/24', 'dev', 'eth0')
  peers.push(await startPeer('wan', ['udp-reflect', '6000']))
  peers.push(await startPeer('lan', ['http', '8080']))
  chain = await startChain(`${root}chains/lab-fw-nat.json`, prefix)
  linuxRouter()
  peers.push(await startPeer(L.wan, ['udp-reflect', '6000']))
})

test.after.always(async () => {
  if (chain) await stopChain(chain)
  for (const p of peers) await stop(p)
  for (const ns of [...Object.values(L), LAN2]) {
    try {
      ip('netns', 'del', ns)
    } catch {}
  }
  labDown()
})

test.serial('endpoint-independent mapping (RFC 4787 REQ-1): one inside endpoint shows one external port to every destination, as with Linux', async (t) => {
  const ours = await probe('lan', ['203.0.113.2:6000', '203.0.113.3:6000'])
  const linux = await probe(L.lan, ['203.0.113.2:6000', '203.0.113.3:6000'])
  t.is(ours.seen.length, 2)
  t.is(ours.seen[0], ours.seen[1], `ours: ${ours.seen}`)
  t.regex(ours.seen[0], /^203\.0\.113\.1:\d+$/)
  t.is(linux.seen[0], linux.seen[1], `linux: ${linux.seen}`)
})

test.serial('filtering is address- and port-dependent: another port of the same remote host does not get in, as with Linux', async (t) => {
  // The reflector answers from the port probed and, before that, from the next port up.
  const ours = await probe('lan', ['203.0.113.2:6000'])
  const linux = await probe(L.lan, ['203.0.113.2:6000'])
  t.deepEqual({ ours: ours.unsolicited, linux: linux.unsolicited }, { ours: 0, linux: 0 })
  t.is(ours.seen.length, 1)
})

test.serial('hairpinning (RFC 4787 REQ-9): a lan host reaches another lan host through 203.0.113.1:8080', async (t) => {
  // A second host on the lan link: a bridge in namespace lan joins it to the chain's veth.
  ip('-n', 'lan', 'link', 'add', 'br0', 'type', 'bridge')
  ip('-n', 'lan', 'addr', 'flush', 'dev', 'eth0')
  ip('-n', 'lan', 'link', 'set', 'eth0', 'master', 'br0')
  ip('-n', 'lan', 'addr', 'add', '10.0.0.2/24', 'dev', 'br0')
  ip('-n', 'lan', 'link', 'set', 'br0', 'up')
  ip('-n', 'lan', 'route', 'replace', 'default', 'via', '10.0.0.1')
  ip('netns', 'add', LAN2)
  ip('-n', 'lan', 'link', 'add', 'lan2', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', LAN2)
  ip('-n', 'lan', 'link', 'set', 'lan2', 'master', 'br0')
  ip('-n', 'lan', 'link', 'set', 'lan2', 'up')
  ip('-n', LAN2, 'addr', 'add', '10.0.0.3/24', 'dev', 'eth0')
  ip('-n', LAN2, 'link', 'set', 'eth0', 'up')
  ip('-n', LAN2, 'route', 'add', 'default', 'via', '10.0.0.1')
  const r = await inNamespace(LAN2, ['curl', '-s', '-w', '\n%{http_code}', '--max-time', '10', 'http://203.0.113.1:8080/'])
  t.is(r.code, 0, r.stderr)
  // The server in lan sees the NAT's external address: its reply goes back through the NAT,
  // which is what makes the hairpin work for TCP.
  t.deepEqual(r.stdout.split('\n'), ['203.0.113.1', '200'])
})

test.serial('the chain stops cleanly', async (t) => {
  t.is(await stopChain(chain), 0, chain.output())
})
