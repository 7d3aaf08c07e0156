// Paced sources say when their next packet is due (Port.nextPumpMs), so the launcher's pump
// can rest until then: a pump at that time sends it, one a little earlier sends nothing.
import test from 'ava'
import { buildIpv4Frame, IPPROTO_UDP } from '../../src/packet/index.ts'
import { attach, Manager, type Xio } from '../../src/xio/index.ts'
import { GeneratorPort } from '../../src/chain/ports/generator.ts'
import { PcapPort } from '../../src/chain/ports/pcap.ts'
import { SinkPort } from '../../src/chain/ports/sink.ts'
import { removeLeftoverRegions, uniquePrefix } from '../helpers/processes.ts'

test.after.always(removeLeftoverRegions)

/** A source endpoint in this process whose packets the manager routes nowhere (counted, freed). */
async function withSource(tag: string, body: (xio: Xio) => void | Promise<void>) {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: 1024 })
  m.declare('src')
  m.start()
  const xio = await attach({ prefix: m.prefix, name: 'src' })
  try {
    await body(xio)
  } finally {
    xio.detach()
    m.close()
  }
}

test.serial('a generator at 100 packets a second is next due 10 ms after its last packet', async (t) => {
  await withSource('pace-gen', (xio) => {
    const gen = new GeneratorPort('src', xio, { kind: 'generator', rate: 100, count: 3 })
    t.is(gen.pump(1000), 0, 'the bucket starts empty')
    t.is(gen.nextPumpMs(1000), 1010)
    t.is(gen.pump(1009), 0)
    t.is(gen.pump(1010), 1)
    t.is(gen.nextPumpMs(1010), 1020)
    t.is(gen.pump(1040), 2, 'late: what the rate allowed meanwhile, up to its count')
    t.true(gen.exhausted)
    t.is(gen.nextPumpMs(1040), Infinity, 'done: due never again')
  })
})

test.serial('a generator with no rate, and a sink, are due as soon as the pump likes, and only when packets come', async (t) => {
  await withSource('pace-top', (xio) => {
    t.is(new GeneratorPort('src', xio, { kind: 'generator' }).nextPumpMs(5), 5)
    t.is(new SinkPort('src', xio).nextPumpMs(), Infinity)
  })
})

test.serial('a timed pcap replay is next due at its next record\'s offset in the capture; at 20 pps, every 50 ms', async (t) => {
  const frame = new Uint8Array(64)
  const data = Buffer.from(frame.subarray(0, buildIpv4Frame(frame, 0, { src: 0x0a000001, dst: 0x0a000002, proto: IPPROTO_UDP, srcPort: 1, dstPort: 2, size: 60 })))
  const at = (ms: number) => ({ timestampNs: 1_700_000_000_000_000_000n + BigInt(ms) * 1_000_000n, data, originalLength: data.length })
  const records = [at(0), at(30), at(200)]
  await withSource('pace-pcap', (xio) => {
    const timed = new PcapPort('src', xio, { kind: 'pcap', speed: 'timed' }, records, true, null)
    t.is(timed.pump(500), 1, 'the first record goes at once')
    t.is(timed.nextPumpMs(500), 530)
    t.is(timed.pump(529), 0)
    t.is(timed.pump(530), 1)
    t.is(timed.nextPumpMs(530), 700)
    t.is(timed.pump(700), 1)
    t.is(timed.nextPumpMs(700), Infinity, 'the capture is done')
    const paced = new PcapPort('src', xio, { kind: 'pcap', speed: 20 }, records, true, null)
    t.is(paced.pump(0), 0)
    t.is(paced.nextPumpMs(0), 50)
    t.is(paced.pump(50), 1)
    t.is(paced.nextPumpMs(50), 100)
  })
})
