import type { CheckFailure } from '../policy/issues'
import { isUnknown } from '../policy/unknown'
import { storeKey } from '../pool/policy-store'
import { idForName, type NamedKind } from '../pool/store-ids'
import type { PoolHandle } from './pools'
import type { Props } from './props'

/**
 * A new name (a new resource, or a rename) must not take the key of an object already in the pool: it
 * belongs to another stack, or to nobody's state any more, and overwriting it would silently change
 * someone's policy. Checked during preview so the conflict shows before anything is applied.
 */
export async function checkNewName(
  pool: PoolHandle,
  kind: NamedKind,
  olds: Props,
  spec: Props,
): Promise<CheckFailure[]> {
  const name = spec.name
  if (typeof name !== 'string' || isUnknown(name) || olds.name === name) return []
  const id = idForName(kind, name)
  if ((await pool.store.get(kind, id)) === undefined) return []
  return [
    {
      property: 'name',
      reason:
        `a ${kind} named ${JSON.stringify(name)} already exists in pool ${JSON.stringify(pool.name)} (key ${storeKey(kind, id)}) ` +
        `and is not in this stack's state: choose another name, or remove it from the pool first ` +
        `(xe pool-param-remove uuid=${pool.uuid} param-name=other-config param-key=${storeKey(kind, id)})`,
    },
  ]
}
