/**
 * What every error a backup can meet means and what to do about it: XAPI and storage-manager codes,
 * and xcp-backup's own. Run logs, `pulumi preview` warnings, drift reports and `xcp-backup explain`
 * all print these, so an operator reads the same advice everywhere.
 */
export interface Explanation {
  code: string
  title: string
  /** What happened, in the terms of the pool and the backup. */
  meaning: string
  /** What to do, most likely fix first. */
  actions: string[]
  /** How a run reports it: a skipped VM is retried by the next run, a failure needs attention. */
  outcome: 'failure' | 'skipped'
}

const catalog: Explanation[] = [
  {
    code: 'SR_BACKEND_FAILURE_44',
    title: 'Not enough space on the storage repository',
    meaning:
      'The storage manager refused to create a snapshot (or a disk) because the SR lacks free space. On thick-provisioned LVM SRs (lvm, lvmoiscsi, lvmohba) a snapshot of a running VM reserves a new leaf as large as the whole disk, so a VM whose disk holds 60 GiB needs about 60 GiB free to be snapshotted; an SR more than half full cannot snapshot all its VMs. Thin SRs (ext, nfs) only need a few KiB per snapshot.',
    actions: [
      'Free space on the SR, or move some VM disks to another SR.',
      'Back up fewer VMs of that SR at once (lower the job’s snapshotConcurrency) or spread them over jobs at different times.',
      'Keep thick LVM SRs under 50 % used, or use a thin SR (ext, nfs) for VMs that are backed up.',
      'Old snapshots also hold space until the host coalesces them: lower snapshotRetention if it is high.',
    ],
    outcome: 'failure',
  },
  {
    code: 'SR_BACKEND_FAILURE_109',
    title: 'Snapshot chain too long',
    meaning:
      'The VM disk’s VHD chain already has 30 elements, XenServer’s fixed limit, so no further snapshot can be taken. Each snapshot of a disk that changed adds one element; the host shortens chains by coalescing after snapshots are deleted. A chain this long means coalescing has not kept up or has stopped.',
    actions: [
      'Check that the host coalesces: on the pool master, `grep -i coalesce /var/log/SMlog` shows progress or errors.',
      'Give the SR room to coalesce (coalescing needs free space roughly equal to the data being merged).',
      'Rescan the SR (`xe sr-scan uuid=<sr>`) to kick the garbage collector.',
      'Delete snapshots nobody needs, and lower snapshotRetention; keep maxUncoalescedVdis at 1 so backups stop before this point.',
    ],
    outcome: 'failure',
  },
  {
    code: 'SR_BACKEND_FAILURE_81',
    title: 'Disk clone failed on the storage repository',
    meaning:
      'The storage manager could not create the files of a snapshot or clone; on file SRs this is usually a full filesystem (error 28, ENOSPC).',
    actions: ['Free space on the SR and retry.', 'Check /var/log/SMlog on the host for the underlying error.'],
    outcome: 'failure',
  },
  {
    code: 'UNHEALTHY_VDI_CHAIN',
    title: 'VDI chain protection: the VM was skipped',
    meaning:
      'Before snapshotting, the backup found more pending coalesces in this VM’s disk chains than maxUncoalescedVdis allows. Taking another snapshot now would lengthen chains the host has not yet merged and lead towards SR_BACKEND_FAILURE_109 or a full SR. Nothing was changed; the next run checks again.',
    actions: [
      'Usually nothing: the host coalesces after snapshots are deleted (after a 5-minute quiet period), and the next run backs the VM up.',
      'If every run skips the VM, the host is not coalescing: check /var/log/SMlog, free space on the SR (coalescing needs room), and rescan the SR (`xe sr-scan`).',
      'Runs that are too frequent for the host to keep up can be spaced out.',
    ],
    outcome: 'skipped',
  },
  {
    code: 'VDI_IO_ERROR',
    title: 'The host could not read the disk during the export',
    meaning:
      'The export started, then dom0 failed reading the VDI, so the stream stopped early. The partial data was discarded: no backup was recorded for this VM in this run, earlier backups are untouched.',
    actions: [
      'Retry the job; a one-off error often comes from a race with a snapshot operation or an overloaded SR.',
      'If it repeats for the same disk, check the SR and /var/log/SMlog for storage errors: the VDI may be damaged.',
    ],
    outcome: 'failure',
  },
  {
    code: 'LICENSE_RESTRICTION',
    title: 'Operation refused by the host’s licence',
    meaning:
      'XAPI refused an operation that needs a licence feature the host does not have. The classic case, LICENSE_RESTRICTION(PCI_device_for_auto_update), is a VM that ran on a licensed XenServer and kept its vendor device after moving to an unlicensed host.',
    actions: [
      'For PCI_device_for_auto_update: `xe vm-param-set has-vendor-device=false uuid=<vm uuid>`, then retry.',
      'For another feature: check the pool’s licence or avoid the feature named in the error.',
    ],
    outcome: 'failure',
  },
  {
    code: 'SR_OPERATION_NOT_SUPPORTED',
    title: 'The storage does not support this operation',
    meaning:
      'A disk of the VM lives on storage that cannot be snapshotted or exported this way: typically a removable device (USB storage) or an ISO attached to the VM, or a RAW-format VDI.',
    actions: [
      'Detach removable devices from the VM before the backup.',
      'Move RAW VDIs to VHD storage, or exclude those disks by putting [NOBAK] in their name.',
    ],
    outcome: 'failure',
  },
  {
    code: 'ELOCKED',
    title: 'The VM’s folder on the remote is locked',
    meaning:
      'Another process holds the lock on this VM’s backup folder on the remote: another backup of the same VM (from xcp-backup or Xen Orchestra) or a merge of old delta backups. Writing now could corrupt that work, so this remote was not used for this VM in this run.',
    actions: [
      'Wait for the other backup or merge to finish; the message says who holds the lock and since when.',
      'A lock whose holder died is recovered automatically after 10 seconds without refresh.',
      'If merges take too long, the remote may be overloaded: check its throughput.',
    ],
    outcome: 'failure',
  },
  {
    code: 'JOB_ALREADY_RUNNING',
    title: 'The job is already running',
    meaning:
      'A schedule fired while the previous run of the same job was still going, so this run did not start. It is reported as an error on purpose: a planned backup did not happen.',
    actions: [
      'Space the schedules out so a run can finish before the next one starts (the BackupJob preview warns when a schedule fires more often than the last run took).',
      'Make runs shorter: more concurrency, fewer VMs per job, or a higher maxExportRate.',
    ],
    outcome: 'failure',
  },
  {
    code: 'NO_VMS_MATCH',
    title: 'No VM matches the job’s selection',
    meaning:
      'The job’s smart selection (pools, power state, tags) matched no VM when the run started, so there was nothing to back up. For example a job for running VMs when none is running, or a tag nobody carries.',
    actions: [
      'Check the selection: `pulumi preview` lists the VMs it matches now.',
      'Check that the pool is reachable and the VMs still carry the tags.',
    ],
    outcome: 'skipped',
  },
  {
    code: 'ENOSPC',
    title: 'The remote is full',
    meaning:
      'The remote ran out of space during the transfer. The partial file was removed; backups already on the remote are intact.',
    actions: [
      'Free space on the remote or give it more.',
      'Lower exportRetention, or add a second remote and split the VMs.',
      'Delta backups need space for the base plus the deltas until old ones are merged.',
    ],
    outcome: 'failure',
  },
  {
    code: 'HTTP_TIMEOUT',
    title: 'The host stopped answering during a transfer',
    meaning:
      'No data came from the host for longer than the inactivity timeout while exporting a disk. dom0 may be overloaded, or slow to attach the disk it is asked to export.',
    actions: [
      'Check dom0’s load and memory on the host that serves the export.',
      'Lower the job’s concurrency so fewer exports run at once.',
      'As a stopgap, raise the runner’s httpInactivityTimeout; find the cause before the next run needs it.',
    ],
    outcome: 'failure',
  },
  {
    code: 'VHD_INCOMPLETE',
    title: 'The received disk image is incomplete',
    meaning:
      'The VHD received from the host fails validation: typically its footer at the start does not match the footer at the end, or the stream ended early. This is what Xen Orchestra reports as "Expected values to be strictly equal". The export from dom0 failed part-way; the file was not kept, so it can never be mistaken for a backup.',
    actions: ['Retry the job; if it repeats, look for VDI_IO_ERROR or storage errors on the host (/var/log/SMlog).'],
    outcome: 'failure',
  },
  {
    code: 'XVA_INCOMPLETE',
    title: 'The received VM export is incomplete',
    meaning:
      'The XVA stream from the host ended before the end of the archive, or a data chunk did not match its checksum. The file was not kept.',
    actions: ['Retry the job; if it repeats, check the host and SR for I/O errors.'],
    outcome: 'failure',
  },
  {
    code: 'VDI_IN_USE',
    title: 'The disk is in use',
    meaning: 'XAPI refused to destroy or change a VDI that is attached to a running VM or to dom0.',
    actions: [
      'Wait and retry: a previous export or an NBD connection may still hold the disk for a few seconds.',
      'If it persists, look for a stuck dom0 VBD with `xe vbd-list vdi-uuid=<uuid>`.',
    ],
    outcome: 'failure',
  },
  {
    code: 'VM_BAD_POWER_STATE',
    title: 'The VM is not in the power state the operation needs',
    meaning:
      'The VM changed state during the backup, or an offline backup found the VM in a state it could not shut down from.',
    actions: ['Retry; check whether something else started or stopped the VM during the backup.'],
    outcome: 'failure',
  },
  {
    code: 'OPERATION_BLOCKED',
    title: 'An operation is blocked on this VM',
    meaning:
      'The VM’s blocked_operations forbid what the backup needed (for example a replica whose start is blocked, or an administrator’s block).',
    actions: [
      'Remove the block with `xe vm-param-remove uuid=<vm> param-name=blocked-operations param-key=<op>` if it is not wanted.',
    ],
    outcome: 'failure',
  },
  {
    code: 'SESSION_AUTHENTICATION_FAILED',
    title: 'The pool refused the credentials',
    meaning: 'Logging in to the pool master failed: wrong user or password.',
    actions: ['Check the pool credentials in the Pulumi stack config or the runner config.'],
    outcome: 'failure',
  },
  {
    code: 'HOST_IS_SLAVE',
    title: 'The address is a pool member, not the master',
    meaning: 'The configured host is not the pool master; the client follows the master’s address given in the error.',
    actions: ['Point the configuration at the pool master to avoid the redirection.'],
    outcome: 'failure',
  },
  {
    code: 'TOO_MANY_PENDING_TASKS',
    title: 'The pool is overloaded with tasks',
    meaning: 'XAPI refused a call because too many tasks are pending.',
    actions: ['Lower the job’s concurrency; the runner retries these calls a few times before giving up.'],
    outcome: 'failure',
  },
  {
    code: 'VDI_TOO_LARGE',
    title: 'The disk is too large for a VHD export',
    meaning: 'VHD exports are limited to about 2 TiB; this disk is larger.',
    actions: ['Exclude the disk with [NOBAK] in its name, or back it up with another method.'],
    outcome: 'failure',
  },
  {
    code: 'INTERRUPTED',
    title: 'The run was interrupted',
    meaning:
      'The runner stopped (crash, kill or shutdown timeout) while this work was in progress. Nothing partial was recorded as a backup; earlier backups are intact, and an interrupted merge resumes on the next run.',
    actions: ['Nothing to do if the runner was stopped on purpose; otherwise check why it stopped (logs, memory).'],
    outcome: 'failure',
  },
]

const byCode = new Map(catalog.map((entry) => [entry.code, entry]))

/** Messages that identify an error when it carries no code of ours (errors from other tools, older runs). */
const messagePatterns: [RegExp, string][] = [
  [/unhealthy VDI chain/i, 'UNHEALTHY_VDI_CHAIN'],
  [/Lock file is already being held/i, 'ELOCKED'],
  [/no VMs match this pattern/i, 'NO_VMS_MATCH'],
  [/is already running/i, 'JOB_ALREADY_RUNNING'],
  [/Expected values to be strictly equal/i, 'VHD_INCOMPLETE'],
  [/HTTP connection has timed out/i, 'HTTP_TIMEOUT'],
  [/no space left on device/i, 'ENOSPC'],
]

export function explanationCodes(): string[] {
  return catalog.map((entry) => entry.code)
}

/** The explanation for a code (case-insensitive), or undefined when we have none. */
export function explainCode(code: string): Explanation | undefined {
  return byCode.get(code.trim().toUpperCase())
}

/** The explanation for an error object: its `code` (XAPI errors, ours), else its message. */
export function explainError(error: unknown): Explanation | undefined {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    const found = explainCode(code)
    if (found) return found
  }
  const message = error instanceof Error ? error.message : String(error)
  for (const [pattern, patternCode] of messagePatterns) {
    if (pattern.test(message)) return byCode.get(patternCode)
  }
  return undefined
}

/** Plain text as `xcp-backup explain` and run logs print it. */
export function formatExplanation(explanation: Explanation): string {
  return [
    `${explanation.code}: ${explanation.title}`,
    '',
    explanation.meaning,
    '',
    'What to do:',
    ...explanation.actions.map((action) => `  - ${action}`),
  ].join('\n')
}
