import type { SimulatorCore } from '../core'
import { createVm } from '../methods/vm'
import { updateVmAllowedOperations } from '../methods/vm-operations'
import { machineRecord } from './machine-record'

const GiB = 2 ** 30

interface DefaultTemplate {
  readonly name: string
  readonly description: string
  readonly memory: number
  readonly vcpus: number
  readonly disk: number
  readonly family: 'linux' | 'windows' | 'other'
  readonly reference: string
}

/** A few of the templates an XCP-ng 8.3 host ships (`is_default_template`). */
const DEFAULT_TEMPLATES: readonly DefaultTemplate[] = [
  {
    name: 'Other install media',
    description: 'Template which allows VM installation from install media',
    memory: 1 * GiB,
    vcpus: 1,
    disk: 32 * GiB,
    family: 'other',
    reference: 'other-install-media',
  },
  {
    name: 'Debian Bookworm 12',
    description:
      'To use this template from the CLI, install your VM using vm-install, then set other-config-install-repository to the path to your network repository, e.g. http://<server>/<path> or nfs:server:/<path>',
    memory: 2 * GiB,
    vcpus: 1,
    disk: 10 * GiB,
    family: 'linux',
    reference: 'debian-12',
  },
  {
    name: 'Ubuntu Noble Numbat 24.04',
    description: 'To use this template from the CLI, install your VM using vm-install',
    memory: 2 * GiB,
    vcpus: 1,
    disk: 10 * GiB,
    family: 'linux',
    reference: 'ubuntu-24.04',
  },
  {
    name: 'Rocky Linux 9',
    description: 'To use this template from the CLI, install your VM using vm-install',
    memory: 2 * GiB,
    vcpus: 1,
    disk: 10 * GiB,
    family: 'linux',
    reference: 'rocky-9',
  },
  {
    name: 'Windows Server 2022 (64-bit)',
    description:
      'Clones of this template will automatically provision their storage when first booted and then reconfigure themselves with the optimal settings for Windows Server 2022 (64-bit).',
    memory: 2 * GiB,
    vcpus: 2,
    disk: 32 * GiB,
    family: 'windows',
    reference: 'windows-server-2022',
  },
  {
    name: 'Windows 11',
    description:
      'Clones of this template will automatically provision their storage when first booted and then reconfigure themselves with the optimal settings for Windows 11.',
    memory: 4 * GiB,
    vcpus: 2,
    disk: 64 * GiB,
    family: 'windows',
    reference: 'windows-11',
  },
]

/** Creates the default templates: templates without disks, whose `other_config.disks` says what to provision. */
export function createDefaultTemplates(core: SimulatorCore): string[] {
  return DEFAULT_TEMPLATES.map((template) => {
    const otherConfig: Record<string, string> = {
      default_template: 'true',
      'install-methods': template.family === 'windows' ? 'cdrom' : 'cdrom,nfs,http,ftp',
      disks: `<provision><disk device="0" size="${template.disk}" sr="" bootable="true" type="system"/></provision>`,
    }
    if (template.family === 'linux') otherConfig.linux_template = 'true'
    const vm = createVm(
      core,
      machineRecord({
        nameLabel: template.name,
        nameDescription: template.description,
        memory: template.memory,
        vcpus: template.vcpus,
        isTemplate: true,
        otherConfig,
      }),
    )
    core.db.update('VM', vm, { is_default_template: true, reference_label: template.reference })
    updateVmAllowedOperations(core.db, vm)
    return vm
  })
}
