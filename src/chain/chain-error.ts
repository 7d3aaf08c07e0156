/** A chain that cannot start, run on, or take a reload: its message is for the user, as it is. */
export class ChainError extends Error {
  override name = 'ChainError'
}
