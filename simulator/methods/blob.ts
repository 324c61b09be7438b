import { xapiNow } from '../model/values'
import { defineMethod, type MethodSpec } from '../rpc/method'

/** Blobs: named binary objects attached to pool/host/VM/SR/network (`<class>.create_new_blob`). */
export const blobMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'blob.create',
    params: [
      ['mime_type', 'string'],
      ['public', 'bool', false],
    ],
    result: 'blob ref',
    async: true,
    handler: (ctx, [mimeType, isPublic]) =>
      ctx.core.db.create('blob', { mime_type: mimeType, public: isPublic, size: 0, last_updated: xapiNow() }),
  }),
  defineMethod({
    name: 'blob.destroy',
    params: [['self', 'blob ref']],
    result: 'void',
    async: true,
    handler: (ctx, [self]) => {
      const { db } = ctx.core
      db.get('blob', self)
      for (const cls of ['pool', 'host', 'VM', 'SR', 'network']) {
        for (const [ref, record] of db.entries(cls)) {
          const blobs = record.blobs as Readonly<Record<string, string>>
          const kept = Object.entries(blobs).filter(([, blob]) => blob !== self)
          if (kept.length !== Object.keys(blobs).length) db.update(cls, ref, { blobs: Object.fromEntries(kept) })
        }
      }
      db.destroy('blob', self)
    },
  }),
]
