import { defineMethod, type MethodSpec } from '../rpc/method'

/**
 * `SR.set_name_label`/`set_name_description` and the VDI ones are explicit XAPI methods (they also
 * tell the storage backend); here they store the value. The storage integration may replace them.
 */
export const storageNameMethods: readonly MethodSpec[] = (['SR', 'VDI'] as const).flatMap((cls) =>
  (['name_label', 'name_description'] as const).map((field) =>
    defineMethod({
      name: `${cls}.set_${field}`,
      params: [
        [cls === 'SR' ? 'sr' : 'self', `${cls} ref`],
        ['value', 'string'],
      ],
      result: 'void',
      async: true,
      handler: (ctx, [self, value]) => {
        ctx.core.db.get(cls, self)
        ctx.core.db.update(cls, self, { [field]: value })
      },
    }),
  ),
)
