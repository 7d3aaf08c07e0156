// The api service: a small REST store of items, written against Node's http API. Only its
// import says where it runs (`xio-chain/http`), so its requests come over the chain's rings
// from other services of the chain (web.ts), not over TCP.
//   XIO_PREFIX=http-services node --import tsx examples/http-services/api.ts
//
//   GET    /items        every item, as JSON
//   POST   /items        a JSON object: stored with a new id, 201 and the item
//   GET    /items/<id>   one item, or 404
//   DELETE /items/<id>   204, or 404
//   POST   /echo         the request body back, whatever its size (for the tests and the bench)
import * as http from 'xio-chain/http'
import type { IncomingMessage, ServerResponse } from 'node:http'

interface Item {
  id: number
  [field: string]: unknown
}

const items = new Map<number, Item>()
let nextId = 1

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) return void res.writeHead(status).end()
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://api')
  const id = /^\/items\/(\d+)$/.exec(url.pathname)?.[1]
  try {
    if (url.pathname === '/items' && req.method === 'GET') return send(res, 200, [...items.values()])
    if (url.pathname === '/items' && req.method === 'POST') {
      const fields = JSON.parse((await body(req)).toString() || '{}') as Record<string, unknown>
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return send(res, 400, { error: 'an item is a JSON object' })
      const item = { ...fields, id: nextId++ }
      items.set(item.id, item)
      return send(res, 201, item)
    }
    if (id && req.method === 'GET') return items.has(Number(id)) ? send(res, 200, items.get(Number(id))) : send(res, 404, { error: `no item ${id}` })
    if (id && req.method === 'DELETE') return send(res, items.delete(Number(id)) ? 204 : 404)
    if (url.pathname === '/echo' && req.method === 'POST') {
      const data = await body(req)
      return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length }).end(data)
    }
    send(res, 404, { error: `no route ${req.method} ${url.pathname}` })
  } catch (e) {
    send(res, 400, { error: (e as Error).message })
  }
})

server.listen({ address: 'api', port: 80 }, () => console.log(JSON.stringify({ listening: 'api:80', prefix: process.env.XIO_PREFIX })))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
