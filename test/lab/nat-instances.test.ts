// The lab chain spread over instances: the lan router leg as two, the firewall, the NAT and the
// wan leg in one placement group as three. Flows are spread over them by flow hash; a NAT
// instance that meets a packet whose session another holds (a reply, addressed to the external
// address, hashes elsewhere) hands it there, where it goes on by calls to the wan leg; and a
// router instance copies each ARP frame it learns from to the others (ARP has no flow hash: it
// all reaches one). Tested with the hosts' own kernel TCP, UDP and ICMP, as the lab chain alone is.
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync, type ChildProcess } from 'node:child_process'
import { labDown, labUp, SYSTEM_PATH } from '../../src/cli/lab.ts'
import { observe } from '../../src/xio/index.ts'
import { countersByEndpoint } from '../../src/xio/group-counters.ts'
import { fetchFromWan, inNamespace, runPeer, startChain, startPeer, stop, stopChain, untilValue, type RunningCommand } from '../helpers/lab.ts'
import { root } from '../helpers/cli.ts'

const INSTANCES = 3
const LEGS = 2
const GROUP = ['fw', 'nat', 'rwan']
let groupSlot = ''
const prefix = `t-natn-${process.pid}`
const dir = mkdtempSync(join(tmpdir(), 'xio-nat-instances-'))
const specFile = join(dir, 'lab-edge.json')
let chain: RunningCommand
const peers: ChildProcess[] = []

test.before(async () => {
  const spec = JSON.parse(readFileSync(`${root}chains/lab-fw-nat.json`, 'utf8'))
  for (const name of GROUP) Object.assign(spec.endpoints[name], { group: 'edge', instances: INSTANCES })
  // A group's process attaches as its first member in the spec's order: its slots go by that name.
  groupSlot = Object.keys(spec.endpoints).find((name) => GROUP.includes(name))!
  spec.endpoints.rlan.instances = LEGS
  writeFileSync(specFile, JSON.stringify(spec))
  labUp()
  // A second wan address, so one inside endpoint can be seen talking to two remote hosts.
  execFileSync('ip', ['-n', 'wan', 'addr', 'replace', '203.0.113.3/24', 'dev', 'eth0'], { env: { ...process.env, PATH: SYSTEM_PATH } })
  peers.push(await startPeer('wan', ['http', '8000']))
  peers.push(await startPeer('lan', ['http', '8080']))
  peers.push(await startPeer('wan', ['udp-reflect', '6000']))
  peers.push(await startPeer('wan', ['blob', '9000']))
  chain = await startChain(specFile, prefix)
})

test.after.always(async () => {
  if (chain) await stopChain(chain)
  for (const p of peers) await stop(p)
  labDown()
  rmSync(dir, { recursive: true, force: true })
})

const curl = (namespace: string, url: string) => inNamespace(namespace, ['curl', '-s', '-w', '\n%{http_code}', '--max-time', '10', url])

/** The packets each instance of an NF endpoint received, and its NF counters summed over them. */
function instancesOf(name: string): { rx: number[]; counters: Record<string, number> } {
  const o = observe(prefix)
  try {
    const slots = o.view.snapshot().slots.filter((s) => s.state === 'active' && s.name === name)
    const counters: Record<string, number> = {}
    for (const s of slots) for (const [k, v] of Object.entries(s.nf)) counters[k] = (counters[k] ?? 0) + v
    return { rx: slots.map((s) => s.route.rxPackets), counters }
  } finally {
    o.close()
  }
}

/** The group's instances as the region shows them: packets each received, and the NAT's counters summed over them. */
function edge(): { rxByInstance: number[]; nat: Record<string, number>; rwan: Record<string, number> } {
  const o = observe(prefix)
  try {
    const slots = o.view.snapshot().slots.filter((s) => s.state === 'active' && s.name === groupSlot)
    const member = (name: string) => {
      const sum: Record<string, number> = {}
      for (const s of slots) for (const [k, v] of Object.entries(countersByEndpoint(s.name, s.nf).get(name) ?? {})) sum[k] = (sum[k] ?? 0) + v
      return sum
    }
    return { rxByInstance: slots.map((s) => s.route.rxPackets), nat: member('nat'), rwan: member('rwan') }
  } finally {
    o.close()
  }
}

test.serial(`${INSTANCES} instances of the group run, and every one of 12 connections from lan gets its answer, seen from the NAT's address`, async (t) => {
  t.is(edge().rxByInstance.length, INSTANCES)
  const answers = await Promise.all(Array.from({ length: 12 }, () => curl('lan', 'http://203.0.113.2:8000/')))
  t.deepEqual(answers.map((r) => r.stdout.split('\n')), Array.from({ length: 12 }, () => ['203.0.113.1', '200']), answers.map((r) => r.stderr).join(''))
})

test.serial('the port forward takes every one of 12 connections from wan to the server in lan', async (t) => {
  const answers = await Promise.all(Array.from({ length: 12 }, () => curl('wan', 'http://203.0.113.1:8080/')))
  t.deepEqual(answers.map((r) => r.stdout.split('\n')), Array.from({ length: 12 }, () => ['203.0.113.2', '200']), answers.map((r) => r.stderr).join(''))
})

test.serial('50 parallel connections each move 1 MB intact, spread over the instances, replies handed to the instance holding their session', async (t) => {
  const before = edge()
  const r = await fetchFromWan(50, 1 << 20)
  t.deepEqual({ ok: r.ok, failed: r.failed }, { ok: 50, failed: [] }, JSON.stringify(r))
  t.is(r.bytes, 50 << 20)
  // Counters are published twice a second: wait for the transfers' to show.
  const after = await untilValue('the transfers in the counters', () => {
    const now = edge()
    const busy = now.rxByInstance.filter((n, i) => n - (before.rxByInstance[i] ?? 0) > 1000).length
    return busy >= 2 && now.nat.handedOff > before.nat.handedOff ? now : undefined
  })
  t.log(`packets by instance: ${after.rxByInstance}; handed off: ${after.nat.handedOff}`)
  // Both instances of the lan leg forwarded: each resolved its next hops from the ARP the other
  // copied to it (ARP reaches one of them only); so did the wan leg's three, in the group.
  const rlan = await untilValue('the lan leg\'s counters', () => {
    const now = instancesOf('rlan')
    return now.rx.length === LEGS && now.rx.every((n) => n > 1000) ? now : undefined
  })
  t.true(rlan.counters.arpShared > 0, JSON.stringify(rlan.counters))
  t.is(rlan.counters['drop/unresolved'] ?? 0, 0)
  t.true(after.rwan.arpShared > 0, JSON.stringify(after.rwan))
  // What the NAT decided after a handoff goes on to the wan leg by a call, as any packet.
  t.is(after.rwan['drop/handedNotArp'] ?? 0, 0, JSON.stringify(after.rwan))
  t.is(after.rwan['drop/unresolved'] ?? 0, 0)
})

test.serial('one inside endpoint shows one external port to every destination (RFC 4787 REQ-1), and a ping is answered', async (t) => {
  const probe = await runPeer('lan', ['nat-probe', '5000', '203.0.113.2:6000', '203.0.113.3:6000'])
  t.is(probe.code, 0, probe.stderr)
  const seen = (JSON.parse(probe.stdout) as { seen: string[] }).seen
  t.is(seen.length, 2)
  t.is(seen[0], seen[1])
  const ping = await inNamespace('lan', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '5', '203.0.113.2'])
  t.regex(ping.stdout, /3 packets transmitted, 3 received/)
})

test.serial('the chain stops cleanly', async (t) => {
  t.is(await stopChain(chain), 0, chain.output())
})
