// The part of proper-lockfile 4.1 (XO's lock library, a test-only dependency here) the interop tests use.
declare module 'proper-lockfile' {
  interface LockOptions {
    stale?: number
    update?: number
    retries?: number
    realpath?: boolean
  }
  function lock(file: string, options?: LockOptions): Promise<() => Promise<void>>
  const lockfile: { lock: typeof lock }
  export default lockfile
}
