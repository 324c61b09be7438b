import { posix } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { checkXvaFile } from '../../disk/xva/is-valid-xva'
import type { RemoteBackend } from '../backend'
import { isRemoteError } from '../errors'
import { cacheEntry, readVmBackupCache } from '../layout/cache'
import { vmBackupDir, xoFilename } from '../layout/paths'
import { deleteVmBackups } from '../layout/vm-backups'
import { acquireLock, type Lock, type LockOptions } from '../lock'
import { remoteBasename } from '../path'
import { exists } from '../small-files'
import { adoptMergedParents, mergeReport, type ResumeContext, resumeInterruptedMerges } from './interrupted-merges'
import { mergeDisk } from './merge-disk'
import { asVmBackup, refreshDeltaMetadata, regenerateCache } from './metadata-refresh'
import { planLineage } from './plan'
import { type CleanVmResult, emptyResult, type MergeReport } from './report'
import { Lineage, mergeStateParent, readVdiDirectory } from './vdi-directory'
import { type MetadataRead, readVmDirectory, type VmDirectory } from './vm-directory'

/**
 * clean-vm: brings a VM's backup directory back to a clean state after backups were written or
 * deleted (XO's cleanVm, xo-backup-engine.md §5.8, re-implemented; docs/remote-format.md §7, §11):
 *
 *  1. interrupted merges are finished first (state files, and merged parents whose rename was cut);
 *  2. every metadata file is read; a backup is complete when its XVA exists, or when each of its VHDs
 *     exists and its chain reads (every parent present, valid, with the uuid its child expects);
 *     incomplete backups are deleted;
 *  3. per VDI directory: VHDs no complete backup needs are deleted, orphan VHDs with one used child
 *     are merged into it (their name then holds the merged disk), and the metadata of merged backups
 *     is rewritten;
 *  4. orphan XVAs, leftovers of interrupted writes and stale merge states are deleted, the cache is
 *     regenerated.
 *
 * Nothing is deleted because of a failure to read (only when a file is positively missing or
 * invalid), nothing a complete backup needs is deleted or merged away, and every decision is in the
 * result. Runs under the VM's lock: the caller's (a writer after its backup) or its own.
 */

export interface CleanVmOptions {
  /** Merge orphan VHDs into the disks backups use, and finish interrupted merges. */
  merge: boolean
  /** Delete incomplete backups, unused data files, leftovers of interrupted writes, stale merge states. */
  remove: boolean
  /** The VM lock the caller holds; without it, clean-vm takes the lock itself (and fails with ELOCKED if held). */
  lock?: Lock
  lockOptions?: LockOptions
  /** Longest time between two merge state writes (default 5 s). */
  mergeStateIntervalMs?: number
  blocksPerCheckpoint?: number
  /** Also check each full backup's XVA (XO's isValidXva plus a walk of the tar headers); reported, never deleted. */
  checkXva?: boolean
  onMergeProgress?: (progress: { parent: string; child: string; mergedBlocks: number; totalBlocks: number }) => void
}

export async function cleanVm(backend: RemoteBackend, vmUuid: string, options: CleanVmOptions): Promise<CleanVmResult> {
  const own =
    options.lock === undefined ? await acquireLock(backend, vmBackupDir(vmUuid), options.lockOptions) : undefined
  const lock = options.lock ?? own!
  try {
    const result = emptyResult(vmUuid)
    await new CleanVm(backend, vmUuid, lock, options, result).run()
    return result
  } finally {
    await own?.release()
  }
}

class CleanVm {
  private changed = false
  private readonly protectedPaths = new Set<string>()
  /** The metadata files as last read (merges rewrite entries in place). */
  private metadata: MetadataRead[] = []

  constructor(
    private readonly backend: RemoteBackend,
    private readonly vmUuid: string,
    private readonly lock: Lock,
    private readonly options: CleanVmOptions,
    private readonly result: CleanVmResult,
  ) {}

  async run(): Promise<void> {
    this.lock.assertHeld()
    let directory = await readVmDirectory(this.backend, this.vmUuid)
    this.metadata = directory.metadata
    if (this.options.merge || this.options.remove) {
      await this.finishInterruptedMerges(directory)
      directory = await readVmDirectory(this.backend, this.vmUuid)
      this.metadata = directory.metadata
    }
    this.reportUnreadable(directory)
    const blocked = directory.metadata.some((read) => read.status === 'unreadable')
    const lineages = new Map<string, Lineage>()
    for (const dir of directory.vdiDirs) lineages.set(dir, new Lineage(await readVdiDirectory(this.backend, dir)))
    this.reportDirectories(lineages)

    const complete = await this.removeIncomplete(directory, lineages)
    if (blocked) {
      this.result.warnings.push({
        code: 'UNREADABLE_METADATA',
        message:
          'some metadata files of this VM cannot be read, so the data files they name cannot be told from orphans: no data file of this VM was deleted or merged. Repair or delete those files.',
        paths: directory.metadata.filter((read) => read.status === 'unreadable').map((read) => read.path),
      })
    } else {
      await this.cleanLineages(lineages, complete)
      await this.removeOrphanXvas()
    }
    await this.healMetadata(complete, lineages)
    await this.removeLeftovers(directory, lineages)
    await this.refreshCache()
  }

  private async finishInterruptedMerges(directory: VmDirectory): Promise<void> {
    const context = this.resumeContext()
    for (const dir of directory.vdiDirs) {
      const vdi = await readVdiDirectory(this.backend, dir)
      if (vdi.unsupported.length > 0 || vdi.mergeStates.length === 0) continue
      await resumeInterruptedMerges(context, vdi)
    }
    await adoptMergedParents(context, directory.metadata)
    if (this.result.merges.length > 0) this.changed = true
  }

  private resumeContext(): ResumeContext {
    return {
      backend: this.backend,
      lock: this.lock,
      result: this.result,
      stateIntervalMs: this.options.mergeStateIntervalMs,
      blocksPerCheckpoint: this.options.blocksPerCheckpoint,
      protectedPaths: this.protectedPaths,
      afterMerge: (target, report) => this.afterMerge(target, report),
      mergeBlocks: this.options.merge,
    }
  }

  /** Rewrites the metadata of the backups whose disk at `target` a merge just changed. */
  private async afterMerge(target: string, report: MergeReport): Promise<void> {
    this.changed = true
    for (const read of this.metadata) {
      if (read.status !== 'ok' || !read.requiredFiles.includes(target)) continue
      if (!(await exists(this.backend, read.path))) continue // an incomplete backup removed meanwhile
      this.lock.assertHeld()
      if (await refreshDeltaMetadata(this.backend, vmBackupDir(this.vmUuid), read, { updateSize: true })) {
        report.metadataUpdated.push(read.path)
        this.result.updatedMetadata.push(read.path)
      }
    }
  }

  private reportUnreadable(directory: VmDirectory): void {
    for (const read of directory.metadata) {
      if (read.status === 'invalid') {
        this.result.warnings.push({
          code: 'INVALID_METADATA',
          message: `${read.path} is not a valid backup (${read.reason}); it is left in place and the data files it names are kept`,
          paths: [read.path, ...read.references],
        })
        for (const path of read.references) this.protectedPaths.add(path)
      }
    }
    for (const path of directory.unknown) {
      this.result.warnings.push({
        code: 'UNKNOWN_FILE',
        message: `${path} is not part of the backup format; it is left in place`,
        paths: [path],
      })
    }
  }

  private reportDirectories(lineages: Map<string, Lineage>): void {
    for (const lineage of lineages.values()) {
      const { dir, unsupported, unknown } = lineage.directory
      if (unsupported.length > 0) {
        this.result.warnings.push({
          code: 'UNSUPPORTED_VHD_DIRECTORY',
          message: `${dir} holds Xen Orchestra "VHD directory" disks (${unsupported.map(remoteBasename).join(', ')}); xcp-backup neither merges nor deletes there: let XO clean it`,
          paths: unsupported,
        })
      }
      for (const path of unknown) {
        this.result.warnings.push({
          code: 'UNKNOWN_FILE',
          message: `${path} is not part of the backup format; it is left in place`,
          paths: [path],
        })
      }
      for (const [path, invalid] of lineage.directory.invalid) {
        this.result.warnings.push({ code: 'BROKEN_VHD', message: invalid.reason, paths: [path] })
      }
      for (const group of lineage.duplicateUuids()) {
        this.result.warnings.push({
          code: 'DUPLICATE_VHD_UUID',
          message: `${group.join(' and ')} carry the same uuid ${lineage.node(group[0]!)!.uuid}; both are kept as long as a backup uses them`,
          paths: group,
        })
      }
    }
  }

  /** Step 2: returns the complete backups; deletes (or reports) the others. */
  private async removeIncomplete(
    directory: VmDirectory,
    lineages: Map<string, Lineage>,
  ): Promise<Extract<MetadataRead, { status: 'ok' }>[]> {
    const xvas = new Set(directory.xvas)
    const complete: Extract<MetadataRead, { status: 'ok' }>[] = []
    for (const read of directory.metadata) {
      if (read.status !== 'ok') continue
      const problems: string[] = []
      let waitsForMerge = false
      if (read.metadata.mode === 'full') {
        for (const path of read.requiredFiles) if (!xvas.has(path)) problems.push(`${path} is missing`)
        if (problems.length === 0 && this.options.checkXva) await this.checkXva(read.requiredFiles[0]!)
      } else {
        for (const path of read.requiredFiles) {
          const lineage = lineages.get(posix.dirname(path))
          if (lineage === undefined) {
            problems.push(`${path} is missing`)
          } else if (lineage.directory.unsupported.length > 0) {
            if (!(await exists(this.backend, path))) problems.push(`${path} is missing`)
          } else {
            const chain = lineage.chain(path)
            if (chain.some((disk) => this.protectedPaths.has(disk))) waitsForMerge = true
            const reason = lineage.brokenReason(path)
            if (reason !== undefined) problems.push(reason)
          }
        }
      }
      if (problems.length === 0) {
        complete.push(read)
        continue
      }
      if (waitsForMerge) {
        for (const path of read.requiredFiles) this.protectedPaths.add(path)
        this.result.warnings.push({
          code: 'MERGE_NOT_RESUMABLE',
          message: `${read.path} cannot be read until an interrupted merge of its chain is finished (${problems.join('; ')}); it is kept`,
          paths: [read.path],
        })
        continue
      }
      const reason = `incomplete: ${problems.join('; ')}`
      this.result.warnings.push({ code: 'INCOMPLETE_BACKUP', message: `${read.path} is ${reason}`, paths: [read.path] })
      if (!this.options.remove) {
        this.result.pending.push({ action: 'remove', paths: [read.path], reason })
        continue
      }
      this.lock.assertHeld()
      const data = read.metadata.mode === 'full' ? read.dataFiles : [] // a delta's VHDs are judged below
      const present = (await Promise.all(data.map((path) => exists(this.backend, path)))).map(
        (yes, i) => yes && data[i]!,
      )
      await deleteVmBackups(this.backend, [{ ...asVmBackup(read), status: 'incomplete' }])
      this.result.removedBackups.push({ path: read.path, reason })
      for (const path of present)
        if (path) this.result.removedFiles.push({ path, reason: `data of ${read.path}, which is ${reason}` })
      this.changed = true
    }
    return complete
  }

  private async checkXva(path: string): Promise<void> {
    const file = await this.backend.open(path, 'read')
    try {
      const check = await checkXvaFile(file, { name: path })
      if (!check.valid) {
        this.result.warnings.push({
          code: 'INVALID_XVA',
          message: `${path} does not look like a complete XVA (${check.reason}); it is kept, but a restore from it would likely fail`,
          paths: [path],
        })
      }
    } finally {
      await file.close()
    }
  }

  /** Step 3. */
  private async cleanLineages(
    lineages: Map<string, Lineage>,
    complete: Extract<MetadataRead, { status: 'ok' }>[],
  ): Promise<void> {
    const active = new Set<string>()
    const usersOf = new Map<string, string[]>()
    for (const read of complete) {
      if (read.metadata.mode !== 'delta') continue
      for (const path of read.requiredFiles) {
        active.add(path)
        usersOf.set(path, [...(usersOf.get(path) ?? []), read.path])
      }
    }
    for (const lineage of lineages.values()) {
      if (lineage.directory.unsupported.length > 0) continue
      const plan = planLineage({
        lineage,
        active,
        protectedPaths: this.protectedPaths,
        usersOf,
        remove: this.options.remove,
      })
      this.result.warnings.push(...plan.warnings)
      this.result.pending.push(...plan.pending)
      for (const deletion of plan.deletions) {
        if (!this.options.remove) {
          this.result.pending.push({ action: 'remove', paths: [deletion.path], reason: deletion.reason })
          continue
        }
        this.lock.assertHeld()
        await this.removeFile(deletion.path)
        this.result.removedFiles.push(deletion)
        this.changed = true
      }
      for (const merge of plan.merges) {
        if (!this.options.merge) {
          this.result.pending.push({
            action: 'merge',
            paths: [merge.parent, merge.child],
            reason: `${merge.parent} is used by no backup but is the base of ${merge.child}`,
          })
          continue
        }
        try {
          const outcome = await mergeDisk(this.backend, merge.parent, merge.child, {
            lock: this.lock,
            stateIntervalMs: this.options.mergeStateIntervalMs,
            blocksPerCheckpoint: this.options.blocksPerCheckpoint,
            onProgress: (progress) =>
              this.options.onMergeProgress?.({ ...progress, parent: merge.parent, child: merge.child }),
          })
          const report = mergeReport(lineage.dir, merge.parent, merge.child, outcome, false)
          this.result.merges.push(report)
          await this.afterMerge(merge.child, report)
        } catch (error) {
          if (isRemoteError(error, 'ECOMPROMISED')) throw error
          this.result.warnings.push({
            code: 'MERGE_FAILED',
            message: `merging ${merge.child} into ${merge.parent} failed: ${(error as Error).message}. Both are left at the merge's last durable step; the next clean-up resumes it. Other merges of ${lineage.dir} wait until then.`,
            paths: [merge.parent, merge.child],
          })
          break
        }
      }
    }
  }

  /** XVAs and checksums no metadata names (a full backup deleted JSON first, then interrupted). */
  private async removeOrphanXvas(): Promise<void> {
    const current = await readVmDirectory(this.backend, this.vmUuid)
    const named = new Set(
      current.metadata.flatMap((read) =>
        read.status === 'ok' ? read.dataFiles : read.status === 'invalid' ? read.references : [],
      ),
    )
    for (const path of [...current.xvas, ...current.checksums]) {
      if (named.has(path) || this.protectedPaths.has(path)) continue
      const reason = 'no backup metadata names it (left by a deletion or a write that was interrupted)'
      if (!this.options.remove) {
        this.result.pending.push({ action: 'remove', paths: [path], reason })
        continue
      }
      this.lock.assertHeld()
      await this.removeFile(path)
      this.result.removedFiles.push({ path, reason })
      this.changed = true
    }
  }

  /**
   * Metadata whose isVhdDifferencing no longer matches its disks (a crash between a merge and its
   * rewrite), found from the disks already read; only those are read again and rewritten.
   */
  private async healMetadata(
    complete: Extract<MetadataRead, { status: 'ok' }>[],
    lineages: Map<string, Lineage>,
  ): Promise<void> {
    if (!this.options.merge) return
    const rewritten = new Set(this.result.updatedMetadata)
    const merged = new Set(this.result.merges.map((merge) => merge.child))
    for (const read of complete) {
      const { metadata } = read
      if (metadata.mode !== 'delta' || rewritten.has(read.path)) continue
      const stale = Object.keys(metadata.vhds).some((ref, index) => {
        const path = read.requiredFiles[index]!
        if (merged.has(path)) return true // read before this run merged it
        const node = lineages.get(posix.dirname(path))?.node(path)
        const flag = metadata.isVhdDifferencing[ref] ?? metadata.isVhdDifferencing[`${ref}.vhd`]
        return node !== undefined && flag !== node.differencing
      })
      if (!stale) continue
      this.lock.assertHeld()
      if (await refreshDeltaMetadata(this.backend, vmBackupDir(this.vmUuid), read, { updateSize: false })) {
        this.result.updatedMetadata.push(read.path)
        this.changed = true
      }
    }
  }

  /** Temporary files of interrupted writes, and merge states whose parent is gone. */
  private async removeLeftovers(directory: VmDirectory, lineages: Map<string, Lineage>): Promise<void> {
    const leftovers: { path: string; reason: string }[] = directory.temporary.map((path) => ({
      path,
      reason: 'temporary file of a write that was interrupted',
    }))
    for (const lineage of lineages.values()) {
      const { dir, temporary, mergeStates } = lineage.directory
      for (const path of temporary) leftovers.push({ path, reason: 'temporary file of a write that was interrupted' })
      for (const state of mergeStates) {
        const parent = mergeStateParent(dir, remoteBasename(state))!
        if (!(await exists(this.backend, parent)) && (await exists(this.backend, state))) {
          leftovers.push({ path: state, reason: `merge state of ${parent}, which no longer exists` })
        }
      }
    }
    for (const leftover of leftovers) {
      if (!this.options.remove) {
        this.result.pending.push({ action: 'remove', paths: [leftover.path], reason: leftover.reason })
        continue
      }
      this.lock.assertHeld()
      await this.removeFile(leftover.path)
      this.result.removedFiles.push(leftover)
      this.changed = true
    }
  }

  private async refreshCache(): Promise<void> {
    if (!this.options.remove && !this.options.merge) return
    if (!this.changed && (await this.cacheIsCurrent())) return
    this.lock.assertHeld()
    await regenerateCache(this.backend, this.vmUuid)
    this.result.cacheRegenerated = true
  }

  /**
   * The cache holds exactly the metadata files, with their current content (a crash between a
   * metadata rewrite and its cache update leaves the right keys with old values).
   */
  private async cacheIsCurrent(): Promise<boolean> {
    const read = await readVmBackupCache(this.backend, this.vmUuid)
    if (read.status !== 'ok') return false
    const current = (await readVmDirectory(this.backend, this.vmUuid)).metadata.filter((m) => m.status === 'ok')
    if (Object.keys(read.cache).length !== current.length) return false
    return current.every((entry) => {
      const key = xoFilename(entry.path)
      const expected = JSON.parse(JSON.stringify(cacheEntry(key, entry.metadata)))
      return isDeepStrictEqual(read.cache[key], expected)
    })
  }

  private async removeFile(path: string): Promise<void> {
    try {
      await this.backend.remove(path)
    } catch (error) {
      if (!isRemoteError(error, 'ENOENT')) throw error
    }
  }
}
