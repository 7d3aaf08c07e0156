// How `xio-chain reload` reaches the `run` that owns a prefix: a Unix socket in the abstract
// namespace, named after the prefix, that `run` listens on. Abstract sockets vanish with
// their process, so a chain killed with kill -9 leaves nothing behind to clean, and only a
// process of this machine (and network namespace) can connect. One JSON line each way.
import { readFileSync } from 'node:fs'
import { createConnection, createServer, type Server } from 'node:net'

/** What a reload asks: apply the spec in this file (an absolute path) to the running chain. */
export interface ControlRequest {
  reload: string
}

/** The answer: what changed, or why nothing did. */
export type ControlAnswer = { ok: true; changes: string[] } | { ok: false; error: string }

const socketName = (prefix: string) => `\0xio-chain/${prefix}/control`

/** Listens for requests on the prefix's control socket; answers each with `handle`. */
export async function serveControl(prefix: string, handle: (request: ControlRequest) => Promise<ControlAnswer>): Promise<Server> {
  const server = createServer((socket) => {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})  // a client that went away; nothing to answer
    socket.on('data', async (chunk: string) => {
      text += chunk
      const end = text.indexOf('\n')
      if (end < 0) return
      socket.pause()
      let answer: ControlAnswer
      try {
        answer = await handle(JSON.parse(text.slice(0, end)) as ControlRequest)
      } catch (e) {
        answer = { ok: false, error: (e as Error).message }
      }
      socket.end(`${JSON.stringify(answer)}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketName(prefix), () => resolve())
  })
  server.unref()  // it never keeps the run alive by itself
  return server
}

/** Sends a request to the `run` of a prefix; a NoChain error if none listens. */
export function sendControl(prefix: string, request: ControlRequest): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketName(prefix))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text) as ControlAnswer)
      } catch {
        reject(new NoChain(`the chain on prefix '${prefix}' closed the connection without an answer`))
      }
    })
    socket.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? new NoChain(`no chain is running on prefix '${prefix}' (no xio-chain run listens for reloads there); ${othersRunning()}`) : e),
    )
  })
}

export class NoChain extends Error {}

/** What runs instead, for a request sent to a prefix where nothing does: the prefixes to give. */
function othersRunning(): string {
  const prefixes = runningPrefixes()
  return prefixes.length ? `running here: ${prefixes.map((p) => `--prefix ${p}`).join(', ')}` : 'no chain is running here'
}

/** Prefixes whose `run` listens on its control socket (abstract sockets, listed in /proc/net/unix). */
export function runningPrefixes(): string[] {
  let table: string
  try {
    table = readFileSync('/proc/net/unix', 'utf8')
  } catch {
    return []
  }
  const prefixes = new Set<string>()
  for (const line of table.split('\n')) {
    // Node binds the name padded with NULs to the address's full length: shown as '@'s.
    const path = /\s@xio-chain\/([^/]+)\/control@*$/.exec(line)
    if (path) prefixes.add(path[1])
  }
  return [...prefixes].sort()
}
