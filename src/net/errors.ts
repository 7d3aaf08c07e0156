// Errors shaped as Node's `net` makes them (code, errno, syscall, address, port), so code that
// tests `err.code === 'ECONNREFUSED'` works unchanged over xio sockets.
import { constants } from 'node:os'

const errnos = constants.errno as Record<string, number>

export type NetErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ENOTFOUND' | 'EPIPE' | 'EADDRINUSE' | 'ETIMEDOUT'

export interface NetError extends Error {
  code: NetErrorCode
  errno?: number
  syscall: string
  address?: string
  port?: number
}

export function netError(code: NetErrorCode, syscall: string, address?: string, port?: number, detail?: string): NetError {
  const where = address === undefined ? '' : ` ${address}${port === undefined ? '' : `:${port}`}`
  const e = new Error(`${syscall} ${code}${where}${detail ? ` (${detail})` : ''}`) as NetError
  e.code = code
  if (errnos[code] !== undefined) e.errno = -errnos[code]
  e.syscall = syscall
  if (address !== undefined) e.address = address
  if (port !== undefined) e.port = port
  return e
}
