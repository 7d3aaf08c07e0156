// pcap files: what we write, libpcap readers read back byte for byte; what pcap-parser cannot
// read is refused with a reason; a truncated last record is reported, not silently lost.
import test from 'ava'
import fc from 'fast-check'
import { execFile, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PcapError, PcapWriter, readPcap } from '../../src/chain/pcap.ts'
import { observe } from '../../src/xio/index.ts'
import { root, startXioChain } from '../helpers/cli.ts'
import { uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

const dir = scratchDir('pcap')
let n = 0
const file = (name = `f${n++}.pcap`) => join(dir, name)

test('written records read back identical, timestamps to the microsecond', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ bytes: fc.uint8Array({ minLength: 14, maxLength: 1514 }), us: fc.bigInt({ min: 0n, max: 4_000_000_000_000_000n }) }), { maxLength: 40 }),
      async (frames) => {
        const path = file()
        const w = new PcapWriter(path)
        for (const f of frames) w.write(f.bytes, 0, f.bytes.length, f.us * 1000n)
        w.close()
        const back = await readPcap(path)
        return back.records.length === frames.length && !back.truncated &&
          back.records.every((r, i) => Buffer.from(frames[i].bytes).equals(r.data) && r.timestampNs === frames[i].us * 1000n)
      },
    ),
    { numRuns: 50 },
  )
  t.pass()
})

test('tcpdump reads what the writer writes', (t) => {
  const path = file()
  const w = new PcapWriter(path)
  const frame = new Uint8Array(60)
  frame.set([0x08, 0x06], 12) // an ARP ethertype, enough for tcpdump to name it
  w.write(frame, 0, 60, 1_700_000_000_123_456_000n)
  w.write(frame, 0, 60, 1_700_000_001_000_000_000n)
  w.close()
  const out = execFileSync('tcpdump', ['-nn', '-tt', '-r', path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n')
  t.is(out.length, 2)
  t.true(out[0].startsWith('1700000000.123456'))
})

test('a truncated last record is left out and reported', async (t) => {
  const path = file()
  const w = new PcapWriter(path)
  for (let i = 0; i < 3; i++) w.write(new Uint8Array(100), 0, 100, BigInt(i))
  w.close()
  const cut = file()
  writeFileSync(cut, readFileSync(path).subarray(0, 24 + 2 * 116 + 50))
  const r = await readPcap(cut)
  t.is(r.records.length, 2)
  t.true(r.truncated)
})

test('formats pcap-parser cannot read are refused with what to do', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['nanosecond pcap', Buffer.from('4d3cb2a1', 'hex'), /nanosecond-resolution pcap is not supported; convert it: editcap/],
    ['pcapng', Buffer.from('0a0d0d0a', 'hex'), /pcapng is not supported; convert it: tshark -F pcap/],
    ['not a capture', Buffer.from('7b22656e', 'hex'), /not a pcap file \(magic 0x7b22656e\)/],
  ]
  for (const [name, magic, message] of cases) {
    const path = file()
    writeFileSync(path, Buffer.concat([magic, Buffer.alloc(40)]))
    const e = await t.throwsAsync(readPcap(path), { instanceOf: PcapError }, name)
    t.regex(e!.message, message)
    t.true(e!.message.startsWith(path))
  }
  await t.throwsAsync(readPcap(file('missing.pcap')), { instanceOf: PcapError, message: /cannot open/ })
})

test.serial('run writes its output captures as packets arrive: tcpdump reads them mid-run, and a kill -9 loses at most the last second', async (t) => {
  const dir = scratchDir('live')
  const out = join(dir, 'out.pcap')
  const spec = join(dir, 'live.json')
  writeFileSync(spec, JSON.stringify({
    name: 'live',
    endpoints: {
      in: { kind: 'pcap', input: join(root, 'pcaps/l2fwd-in.pcap'), speed: 50, loop: 0 },
      fwd: { kind: 'l2fwd' },
      out: { kind: 'pcap', output: 'out.pcap' },
    },
    links: ['in -> fwd', 'fwd -> out'],
  }))
  const prefix = uniquePrefix('live')
  const cli = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => {
    if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL')
    rmSync(`/dev/shm/xio.${prefix}`, { force: true })
  })
  const records = () => (existsSync(out) ? Math.max(0, statSync(out).size - 24) : 0)
  // Once packets reach the output port, they reach the file within a flush interval or two
  // (a 1 MB buffer would take over ten seconds to fill at this rate).
  const delivered = () => {
    try {
      const o = observe(prefix)
      const n = o.view.snapshot().slots.find((x) => x.state === 'active' && x.name === 'out')?.route.rxPackets ?? 0
      o.close()
      return n
    } catch {
      return 0
    }
  }
  t.true(await until(() => delivered() > 0, 20_000, 50), `the chain runs: ${cli.output()}`)
  t.true(await until(() => records() > 0, 2500), 'records reach the file while the chain runs')
  const midRun = await tcpdumpCount(out)
  t.true(midRun > 0, `tcpdump reads ${midRun} packets mid-run`)
  const sizeBeforeKill = statSync(out).size
  cli.kill('SIGKILL')
  await once(cli, 'exit')
  t.true(statSync(out).size >= sizeBeforeKill, 'what was written stays')
  t.true((await tcpdumpCount(out)) >= midRun, 'and reads back after the kill')
  rmSync(dir, { recursive: true, force: true })
})

function tcpdumpCount(file: string): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile('tcpdump', ['-nr', file], (error, stdout) => (error ? reject(error) : resolve(stdout.split('\n').filter(Boolean).length))),
  )
}
