// NF state that outlives the process, with real TCP: in the namespace lab (xio-chain lab up),
// a long transfer from a server in wan to a client in lan, through the router, firewall and
// NAT of chains/lab-fw-nat.json, survives a kill -9 of the NAT: its restart resumes the
// session, the server's segments find it again, and every byte arrives (sha256 checked).
import test from 'ava'
import type { ChildProcess } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { labDown, labUp } from '../../src/cli/lab.ts'
import { stateFileName, stateSegmentOf } from '../../src/xio/state.ts'
import { activeSlot, fetchFromWan, startChain, startPeer, stop, stopChain, type RunningCommand, untilValue } from '../helpers/lab.ts'
import { root } from '../helpers/cli.ts'

const spec = `${root}chains/lab-fw-nat.json`
const prefix = `t-state-lab-${process.pid}`
const SIZE = 300 << 20
let chain: RunningCommand | undefined
const peers: ChildProcess[] = []
const asRoot = process.getuid?.() === 0
const leftovers = () => readdirSync('/dev/shm').filter((f) => f === `xio.${prefix}` || stateSegmentOf(f)?.prefix === prefix)

test.before(async () => {
  if (!asRoot) return
  labUp()
  peers.push(await startPeer('wan', ['blob', '9000']))
  chain = await startChain(spec, prefix)
})

test.after.always(async () => {
  if (!asRoot) return
  if (chain) await stopChain(chain)
  for (const p of peers) await stop(p)
  labDown()
})

const natSlot = () => activeSlot(prefix, 'nat')
const until = untilValue

;(asRoot ? test.serial : test.skip)('a 300 MB TCP transfer through the lab survives kill -9 of the NAT mid-way, every byte intact', async (t) => {
  t.timeout(180_000)
  const before = natSlot()!
  t.truthy(before, chain?.output())
  const transfer = fetchFromWan(1, SIZE, 150_000)
  // Mid-transfer: once the NAT has moved a few thousand packets of it.
  await until('the transfer to be under way', () => (natSlot()!.route.rxPackets > before.route.rxPackets + 3000 ? true : undefined))
  t.truthy(readdirSync('/dev/shm').includes(stateFileName(prefix, 'nat', 0)), 'the NAT keeps its sessions in its state segment')
  process.kill(before.pid, 'SIGKILL')
  const after = await until('a new NAT instance', () => {
    const s = natSlot()
    return s && s.pid !== before.pid ? s : undefined
  })
  const result = await transfer  // a failed fetch throws with its output
  t.deepEqual({ ok: result.ok, failed: result.failed, errors: result.errors, bytes: result.bytes }, { ok: 1, failed: [], errors: [], bytes: SIZE }, JSON.stringify(result))
  t.log(`${SIZE >> 20} MB in ${result.ms} ms across the NAT's restart`)
  // The new NAT took the transfer's session over from the state rather than dropping its segments.
  const nf = await until('the new NAT\'s counters', () => {
    const s = natSlot()
    return s && s.pid === after.pid && s.nf.sessionsResumed !== undefined ? s.nf : undefined
  })
  t.true(nf.sessionsResumed >= 1, JSON.stringify(nf))
  t.is(nf['drop/noMapping'] ?? 0, 0, JSON.stringify(nf))
  t.true(chain!.output().includes(`NF 'nat' (pid ${before.pid}) exited SIGKILL; restarting it`), chain!.output())
  t.is(await stopChain(chain!), 0, chain!.output())
  t.deepEqual(leftovers(), [], 'region and state gone with the chain')
})
