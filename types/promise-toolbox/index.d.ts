// Minimal typings for `promise-toolbox` (a dependency of xen-api): the cancel token its callAsync takes.
declare module 'promise-toolbox' {
  export class CancelToken {
    static source(): { cancel(reason?: string): void; token: CancelToken }
    readonly requested: boolean
  }
}
