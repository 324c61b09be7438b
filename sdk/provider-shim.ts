import type * as pulumi from '@pulumi/pulumi'
import type { ResourceKind } from '../provider/resources/entry'

type Entry = typeof import('../provider/resources/entry')

/**
 * The dynamic provider Pulumi serializes into the state of every resource (`__provider`) and replays for
 * refresh and delete, possibly years later and with a newer version of this package installed.
 *
 * So it is only a shim: each method `require`s the installed package's entry point at run time (resolved
 * from the program directory, where the provider process runs) and delegates. It captures nothing but the
 * resource type's name: no client, no configuration, no module state. The logic is always the installed
 * version's, and the text stored is small. The module path and the `configure`/`dispatch` signatures are
 * therefore a compatibility contract (provider/resources/entry.ts).
 */
export function providerShim(kind: ResourceKind): pulumi.dynamic.ResourceProvider {
  return {
    async configure(request) {
      ;(require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry).configure(request.config)
    },
    async check(olds, news) {
      const entry = require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry
      return (await entry.dispatch(kind, 'check', [olds, news])) as pulumi.dynamic.CheckResult
    },
    async diff(id, olds, news) {
      const entry = require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry
      return (await entry.dispatch(kind, 'diff', [id, olds, news])) as pulumi.dynamic.DiffResult
    },
    async create(inputs) {
      const entry = require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry
      return (await entry.dispatch(kind, 'create', [inputs])) as pulumi.dynamic.CreateResult
    },
    async read(id, props) {
      const entry = require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry
      return (await entry.dispatch(kind, 'read', [id, props])) as pulumi.dynamic.ReadResult
    },
    async update(id, olds, news) {
      const entry = require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry
      return (await entry.dispatch(kind, 'update', [id, olds, news])) as pulumi.dynamic.UpdateResult
    },
    async delete(id, props) {
      const entry = require('pulumi-xcp-backup/dist/provider/resources/entry.js') as Entry
      await entry.dispatch(kind, 'delete', [id, props])
    },
  }
}
