// The chain as the router of the namespace lab, tested with the hosts' own kernel TCP, UDP
// and ICMP: lan (10.0.0.2) -> afpacket xl-lan -> router -> firewall -> NAT -> router ->
// afpacket xl-wan -> wan (203.0.113.2), and back.
import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { labDown, labUp, SYSTEM_PATH } from '../../src/cli/lab.ts'
import { activeSlot, fetchFromWan, inNamespace, runPeer, startChain, startPeer, stop, stopChain, type RunningCommand, untilValue } from '../helpers/lab.ts'
import { root } from '../helpers/cli.ts'

const spec = `${root}chains/lab-fw-nat.json`
const prefix = `t-lab-${process.pid}`
let chain: RunningCommand
const peers: ChildProcess[] = []

test.before(async () => {
  labUp()
  peers.push(await startPeer('wan', ['http', '8000']))
  peers.push(await startPeer('wan', ['http', '23']))
  peers.push(await startPeer('wan', ['udp', '5353']))
  peers.push(await startPeer('lan', ['http', '8080']))
  peers.push(await startPeer('wan', ['blob', '9000']))
  chain = await startChain(spec, prefix)
})

test.after.always(async () => {
  if (chain) await stopChain(chain)
  for (const p of peers) await stop(p)
  labDown()
})

const curl = (namespace: string, url: string, ...options: string[]) =>
  inNamespace(namespace, ['curl', '-s', '-w', '\n%{http_code}', ...options, url])

test.serial('lan reaches a web server in wan, which sees the NAT\'s address as the client', async (t) => {
  const r = await curl('lan', 'http://203.0.113.2:8000/', '--max-time', '10')
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.split('\n'), ['203.0.113.1', '200'])
})

test.serial('a port forward takes wan to a server in lan at 203.0.113.1:8080', async (t) => {
  const r = await curl('wan', 'http://203.0.113.1:8080/', '--max-time', '10')
  t.is(r.code, 0, r.stderr)
  // Destination NAT only: the server in lan sees the real client.
  t.deepEqual(r.stdout.split('\n'), ['203.0.113.2', '200'])
})

test.serial('a UDP query from lan gets its answer', async (t) => {
  const r = await runPeer('lan', ['udp-query', '203.0.113.2', '5353', 'example.com'])
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'answer:example.com')
})

/** The identifier of the first echo request tcpdump sees in a namespace while `during` runs. */
async function echoIdSeen(namespace: string, during: Promise<unknown>, ready: () => void): Promise<number> {
  const dump = spawn('ip', ['netns', 'exec', namespace, 'tcpdump', '-l', '-n', '-c', '1', '-i', 'eth0', 'icmp[icmptype] == 8'], {
    env: { ...process.env, PATH: SYSTEM_PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = once(dump, 'exit')
  let out = ''
  dump.stdout!.on('data', (c: Buffer) => (out += c))
  let err = ''
  await new Promise<void>((resolve) => dump.stderr!.on('data', (c: Buffer) => ((err += c), err.includes('listening on') && resolve())))
  ready()
  await during
  await exited
  return Number(/id (\d+)/.exec(out)?.[1] ?? NaN)
}

test.serial('ping from lan to wan is answered, with the echo identifier translated', async (t) => {
  let go!: () => void
  const bothReady = new Promise<void>((r) => (go = r))
  let readyCount = 0
  const ready = () => ++readyCount === 2 && go()
  const ping = bothReady.then(() => inNamespace('lan', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '5', '203.0.113.2']))
  const [lanId, wanId, r] = await Promise.all([echoIdSeen('lan', ping, ready), echoIdSeen('wan', ping, ready), ping])
  t.is(r.code, 0, r.stdout + r.stderr)
  t.regex(r.stdout, /3 packets transmitted, 3 received/)
  t.false(Number.isNaN(lanId))
  t.true(wanId >= 20000 && wanId <= 29999, `wan saw id ${wanId}, from the NAT's range`)
  t.not(wanId, lanId)
})

test.serial('a packet whose TTL runs out at the chain gets ICMP time exceeded from the router', async (t) => {
  const r = await inNamespace('lan', ['ping', '-n', '-c', '1', '-t', '1', '-W', '5', '203.0.113.2'])
  t.regex(r.stdout, /From 10\.0\.0\.1 .*Time to live exceeded/)
})

test.serial('a firewall rule dropping TCP 23 makes that connection time out', async (t) => {
  const r = await curl('lan', 'http://203.0.113.2:23/', '--connect-timeout', '2')
  t.is(r.code, 28, `curl exits 28 on a timeout; it said: ${r.stdout} ${r.stderr}`)
  // The same server answers on another port: the drop is the rule's, not the path's.
  const ok = await curl('lan', 'http://203.0.113.2:8000/', '--max-time', '10')
  t.deepEqual(ok.stdout.split('\n'), ['203.0.113.1', '200'])
})

test.serial('200 parallel connections each move 1 MB through the chain intact', async (t) => {
  const r = await fetchFromWan(200, 1 << 20)
  t.deepEqual({ ok: r.ok, failed: r.failed }, { ok: 200, failed: [] }, JSON.stringify(r))
  t.is(r.bytes, 200 << 20)
  t.log(`200 × 1 MB in ${r.ms} ms: ${((r.bytes * 8) / r.ms / 1000).toFixed(0)} Mbit/s`)
})

test.serial('one 200 MB transfer completes intact', async (t) => {
  const r = await fetchFromWan(1, 200 << 20, 300_000)
  t.deepEqual({ ok: r.ok, failed: r.failed }, { ok: 1, failed: [] }, JSON.stringify(r))
  t.log(`200 MB in ${r.ms} ms: ${((r.bytes * 8) / r.ms / 1000).toFixed(0)} Mbit/s`)
})

const natSlot = () => activeSlot(prefix, 'nat')
const until = untilValue

test.serial('kill -9 of the NAT mid-transfer: the launcher restarts it, it resumes its mappings from shared memory, and the transfer completes', async (t) => {
  const before = natSlot()!
  const transfer = fetchFromWan(1, 400 << 20, 300_000)
  // Mid-transfer: once the NAT has moved a few thousand packets of it.
  await until('the transfer to be under way', () => (natSlot()!.route.rxPackets > before.route.rxPackets + 3000 ? true : undefined))
  process.kill(before.pid, 'SIGKILL')
  const after = await until('a new NAT instance', () => {
    const s = natSlot()
    return s && s.pid !== before.pid ? s : undefined
  })
  t.not(after.pid, before.pid)
  // The new NAT opens the state segment the old one left (env.state) and finds the transfer's
  // mapping there: the server's segments are translated back as before, and TCP retransmits
  // what the restart lost.
  const r = await transfer
  t.deepEqual({ failed: r.failed, errors: r.errors }, { failed: [], errors: [] }, JSON.stringify(r))
  t.is(r.bytes, 400 << 20)
  t.true(chain.output().includes(`NF 'nat' (pid ${before.pid}) exited SIGKILL; restarting it`), chain.output())
  const resumed = await until('the new NAT to publish what it resumed', () => natSlot()?.nf.sessionsResumed || undefined)
  t.true(resumed > 0)
  const ok = await curl('lan', 'http://203.0.113.2:8000/', '--max-time', '10')
  t.deepEqual(ok.stdout.split('\n'), ['203.0.113.1', '200'])
})

test.serial('the chain stops cleanly and the lab comes down without leftovers', async (t) => {
  t.is(await stopChain(chain), 0, chain.output())
  // The telnet SYNs were the firewall's drops (its stats line's running total).
  const fwDrops = [...chain.output().matchAll(/^fw .* total rx \d+ tx \d+ drop (\d+) backpressure \d+$/gm)].map((m) => Number(m[1]))
  t.true(fwDrops.length > 0 && fwDrops[fwDrops.length - 1] >= 1, chain.output())
  labDown()
  const links = await inNamespace('lan', ['true'])
  t.not(links.code, 0, 'namespace lan is gone')
  labUp() // for after.always, which takes it down again
})
