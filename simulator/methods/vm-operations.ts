import type { Database, XapiRecord } from '../db/database'
import { xapiEnums } from '../model/enums'
import { isNullRef } from '../model/values'
import type { CallContext } from '../rpc/call-context'
import { XapiError } from '../rpc/errors'

/**
 * Which VM operations are allowed when, after XAPI's `Xapi_vm_lifecycle.check_operation_error`:
 * blocked operations first, then the power state, concurrent operations, templates, snapshots and
 * the control domain. GPU, USB, PCI, HA and appliance rules do not apply to the simulated pool.
 */

const ALL_POWER_STATES = ['Halted', 'Paused', 'Suspended', 'Running'] as const

function allowedPowerStates(op: string, vm: XapiRecord): readonly string[] {
  switch (op) {
    case 'import':
      return []
    case 'changing_VCPUs':
    case 'changing_static_range':
    case 'changing_memory_limits':
      return vm.is_control_domain === true ? ['Halted', 'Running'] : ['Halted']
    case 'changing_shadow_memory':
    case 'changing_NVRAM':
    case 'make_into_template':
    case 'provision':
    case 'start':
    case 'start_on':
    case 'create_vtpm':
      return ['Halted']
    case 'unpause':
      return ['Paused']
    case 'csvm':
    case 'resume':
    case 'resume_on':
      return ['Suspended']
    case 'awaiting_memory_live':
    case 'call_plugin':
    case 'clean_reboot':
    case 'clean_shutdown':
    case 'changing_memory_live':
    case 'changing_shadow_memory_live':
    case 'changing_VCPUs_live':
    case 'data_source_op':
    case 'pause':
    case 'pool_migrate':
    case 'send_sysrq':
    case 'send_trigger':
    case 'snapshot_with_quiesce':
    case 'suspend':
      return ['Running']
    case 'changing_dynamic_range':
      return ['Halted', 'Running']
    case 'clone':
    case 'copy':
      return vm.is_a_snapshot === true ? ['Halted', 'Suspended'] : ['Halted']
    case 'create_template':
    case 'destroy':
    case 'export':
      return ['Halted', 'Suspended']
    case 'hard_reboot':
      return ['Paused', 'Running']
    case 'checkpoint':
    case 'get_boot_record':
    case 'shutdown':
    case 'hard_shutdown':
      return ['Paused', 'Suspended', 'Running']
    case 'migrate_send':
      return ['Halted', 'Suspended', 'Running']
    default:
      return ALL_POWER_STATES
  }
}

function isAllowedConcurrently(op: string, currentOps: readonly string[]): boolean {
  const groups = [['clone', 'copy', 'export'], ['snapshot', 'checkpoint'], ['get_boot_record']]
  if (groups.some((group) => group.includes(op) && currentOps.every((current) => group.includes(current)))) return true
  if (op === 'hard_shutdown') return !currentOps.includes(op)
  if (op === 'hard_reboot')
    return !currentOps.some((current) => current === 'hard_shutdown' || current === 'hard_reboot')
  const transitions: readonly (readonly [string, string])[] = [
    ['snapshot_with_quiesce', 'snapshot'],
    ['migrate_send', 'metadata_export'],
    ['migrate_send', 'clean_shutdown'],
    ['migrate_send', 'clean_reboot'],
  ]
  return transitions.some(([state, next]) => next === op && currentOps.length === 1 && currentOps[0] === state)
}

const TEMPLATE_OPERATIONS = new Set([
  'changing_dynamic_range',
  'changing_static_range',
  'changing_memory_limits',
  'changing_shadow_memory',
  'changing_VCPUs',
  'changing_NVRAM',
  'clone',
  'copy',
  'export',
  'metadata_export',
  'provision',
])
const SNAPSHOT_OPERATIONS = new Set([
  'revert',
  'clone',
  'copy',
  'export',
  'destroy',
  'hard_shutdown',
  'metadata_export',
])
const CONTROL_DOMAIN_OPERATIONS = new Set([
  'data_source_op',
  'changing_memory_live',
  'awaiting_memory_live',
  'metadata_export',
  'changing_dynamic_range',
  'changing_memory_limits',
  'changing_static_range',
  'start',
  'start_on',
  'changing_VCPUs',
  'destroy',
])

/** The error XAPI would raise for `op` on this VM now, or undefined when it is allowed. */
export function vmOperationError(db: Database, ref: string, op: string): XapiError | undefined {
  const vm = db.get('VM', ref)
  const blocked = (vm.blocked_operations as Readonly<Record<string, string>>)[op]
  if (blocked !== undefined) return new XapiError('OPERATION_BLOCKED', [ref, blocked])

  const powerState = String(vm.power_state)
  const expected = allowedPowerStates(op, vm)
  if (!expected.includes(powerState)) {
    return new XapiError('VM_BAD_POWER_STATE', [
      ref,
      expected.map((s) => s.toLowerCase()).join(', '),
      powerState.toLowerCase(),
    ])
  }

  const current = Object.entries(vm.current_operations as Readonly<Record<string, string>>)
  if (
    current.length > 0 &&
    !isAllowedConcurrently(
      op,
      current.map(([, o]) => o),
    )
  ) {
    const [refs, ops] =
      current.length === 1
        ? [current[0]![0], current[0]![1]]
        : [`{${current.map(([r]) => r).join(',')}}`, `{${current.map(([, o]) => o).join(',')}}`]
    return new XapiError('OTHER_OPERATION_IN_PROGRESS', ['VM', ref, ops, refs])
  }

  const isTemplate = vm.is_a_template === true
  const isSnapshot = vm.is_a_snapshot === true
  if (isTemplate && !isSnapshot) {
    const otherConfig = vm.other_config as Readonly<Record<string, string>>
    const isDefault = vm.is_default_template === true || ['1', 'true'].includes(otherConfig.default_template ?? '')
    const allowed = TEMPLATE_OPERATIONS.has(op) || ((op === 'destroy' || op === 'migrate_send') && !isDefault)
    if (!allowed) return new XapiError('VM_IS_TEMPLATE', [ref, op])
  }
  if (isSnapshot && !SNAPSHOT_OPERATIONS.has(op)) return new XapiError('VM_IS_SNAPSHOT', [ref, op])
  if (op === 'provision' && !isTemplate) return new XapiError('ONLY_PROVISION_TEMPLATE', [])
  if (op === 'revert' && !isSnapshot) return new XapiError('ONLY_REVERT_SNAPSHOT', [])

  if (vm.is_control_domain === true) {
    if (op === 'changing_VCPUs' || op === 'destroy') {
      return new XapiError('OPERATION_NOT_ALLOWED', ['This operation is not allowed on dom0'])
    }
    if (!CONTROL_DOMAIN_OPERATIONS.has(op)) {
      return new XapiError('OPERATION_NOT_ALLOWED', ['This operation is not allowed on a control domain'])
    }
  }
  if (op === 'snapshot_with_quiesce') return new XapiError('VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED', [ref])
  if ((op === 'checkpoint' || op === 'snapshot' || op === 'suspend') && hasResetOnBootDisk(db, vm)) {
    return new XapiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', [])
  }
  return undefined
}

function hasResetOnBootDisk(db: Database, vm: XapiRecord): boolean {
  return (vm.VBDs as readonly string[]).some((vbd) => {
    const vdi = String(db.find('VBD', vbd)?.VDI ?? '')
    if (isNullRef(vdi)) return false
    return (db.find('VDI', vdi)?.sm_config as Readonly<Record<string, string>> | undefined)?.on_boot === 'reset'
  })
}

export function assertVmOperationValid(db: Database, ref: string, op: string): void {
  const error = vmOperationError(db, ref, op)
  if (error !== undefined) throw error
}

/** Operations never listed in `allowed_operations` (XAPI's `ignored_ops`). */
const IGNORED_OPERATIONS = new Set([
  'create_template',
  'power_state_reset',
  'csvm',
  'get_boot_record',
  'send_sysrq',
  'send_trigger',
  'query_services',
  'shutdown',
  'call_plugin',
  'changing_memory_live',
  'awaiting_memory_live',
  'changing_memory_limits',
  'changing_shadow_memory_live',
  'changing_VCPUs',
  'assert_operation_valid',
  'data_source_op',
  'update_allowed_operations',
  'import',
  'reverting',
])
const LISTABLE_OPERATIONS = (xapiEnums.vm_operations ?? []).filter((op) => !IGNORED_OPERATIONS.has(op))

/** Recomputes `VM.allowed_operations` (XAPI's `update_allowed_operations`). */
export function updateVmAllowedOperations(db: Database, ref: string): void {
  const allowed = LISTABLE_OPERATIONS.filter((op) => vmOperationError(db, ref, op) === undefined).reverse()
  const current = db.get('VM', ref).allowed_operations as readonly string[]
  if (current.length !== allowed.length || current.some((op, i) => op !== allowed[i])) {
    db.update('VM', ref, { allowed_operations: allowed })
  }
}

/**
 * Runs a VM operation the way XAPI's `with_vm_operation` does: checks it is allowed, records it in
 * `current_operations` (keyed by the call's task) while it runs, and refreshes `allowed_operations`.
 */
export async function withVmOperation<T>(
  ctx: CallContext,
  ref: string,
  op: string,
  run: () => Promise<T> | T,
): Promise<T> {
  const { db } = ctx.core
  assertVmOperationValid(db, ref, op)
  const key = ctx.operationKey
  const operations = db.get('VM', ref).current_operations as Readonly<Record<string, string>>
  db.update('VM', ref, { current_operations: { ...operations, [key]: op } })
  updateVmAllowedOperations(db, ref)
  try {
    await ctx.checkpoint()
    return await run()
  } finally {
    if (db.exists('VM', ref)) {
      const { [key]: _done, ...rest } = db.get('VM', ref).current_operations as Readonly<Record<string, string>>
      db.update('VM', ref, { current_operations: rest })
      updateVmAllowedOperations(db, ref)
    }
  }
}
