import { copyFile, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openLocalFile } from '../../../provider/disk/io'
import { DiskType } from '../../../provider/disk/vhd/constants'
import { checkVhdFile } from '../../../provider/disk/vhd/vhd-file'
import type { RemoteBackend } from '../../../provider/remote/backend'
import { FileBackend } from '../../../provider/remote/file/file-backend'
import { cachePath } from '../../../provider/remote/layout/paths'
import { listVmBackups } from '../../../provider/remote/layout/vm-backups'
import { acquireLock, type Lock } from '../../../provider/remote/lock'
import { type CleanVmResult, cleanVm } from '../../../provider/remote/maintenance'
import { applyRetention, planRetention } from '../../../provider/remote/maintenance/retention'
import {
  type BuiltBackup,
  DAY,
  expectBackupRestores,
  expectQemuRawEquals,
  expectQemuReadsRestore,
  listTree,
  Repository,
  randomBlocks,
  T0,
} from './fixtures'

let root: string
let backend: FileBackend
let lock: Lock | undefined

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'xcp-clean-vm-'))
  backend = await FileBackend.open(root)
})
afterEach(async () => {
  await lock?.release()
  lock = undefined
  await rm(root, { recursive: true, force: true })
})

async function clean(repo: Repository, options: { merge?: boolean; remove?: boolean } = {}): Promise<CleanVmResult> {
  lock ??= await acquireLock(backend, repo.dir)
  return cleanVm(backend, repo.vmUuid, {
    merge: options.merge ?? true,
    remove: options.remove ?? true,
    lock,
    blocksPerCheckpoint: 2,
  })
}

/** Deletes backups as retention does (metadata only for deltas), under the lock. */
async function forget(repo: Repository, backups: BuiltBackup[]): Promise<void> {
  lock ??= await acquireLock(backend, repo.dir)
  const listing = await listVmBackups(backend, repo.vmUuid)
  const paths = new Set(backups.map((b) => b.path))
  await applyRetention(
    backend,
    {
      scope: { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
      stage: 'after-transfer',
      backups: listing.backups,
      old: listing.backups.filter((b) => paths.has(b.path)),
      deferred: [],
    },
    { lock },
  )
}

const vdiFiles = async (repo: Repository) =>
  (await listTree(join(root, repo.vdiDir()))).filter((name) => !name.startsWith('.'))

describe('clean-vm merges what retention left behind', () => {
  it('merges the orphan full and delta into the oldest kept backup, which becomes a full; every kept backup restores', async () => {
    const repo = new Repository(backend)
    const full = await repo.full(T0, randomBlocks(10, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(3, 16))
    const d2 = await repo.delta(T0 + 2 * DAY, randomBlocks(4, 16))
    const d3 = await repo.delta(T0 + 3 * DAY, randomBlocks(2, 16))
    const d4 = await repo.delta(T0 + 4 * DAY, randomBlocks(5, 16))

    lock = await acquireLock(backend, repo.dir)
    const plan = await planRetention(
      backend,
      { vmUuid: repo.vmUuid, scheduleId: repo.scheduleId, mode: 'delta' },
      { retention: 3 },
      'after-transfer',
    )
    expect(plan.old.map((b) => b.path)).toEqual([full.path, d1.path])
    await applyRetention(backend, plan, { lock })

    const result = await clean(repo)
    expect(result.warnings).toEqual([])
    expect(result.removedBackups).toEqual([])
    const vhd = (b: BuiltBackup) => b.disks.get(repo.disks[0]!.ref)!.vhd
    expect(result.merges.map((m) => [m.parent, m.child])).toEqual([
      [vhd(full), vhd(d1)],
      [vhd(d1), vhd(d2)],
    ])
    expect(result.merges[0]).toMatchObject({ resumed: false, fromBlock: 0, mergedBlocks: 3, totalBlocks: 3 })
    expect(result.merges[1]).toMatchObject({ mergedBlocks: 4, totalBlocks: 4, metadataUpdated: [d2.path] })
    expect(result.merges[1]!.mergedBytes).toBe(4 * 2 * 1024 * 1024)
    expect(result.merges[1]!.finalSize).toBe((await stat(join(root, vhd(d2)))).size)
    expect(result.cacheRegenerated).toBe(true)

    // Only the kept backups' VHDs remain, the oldest now a full (dynamic) disk with the newest name.
    expect(await vdiFiles(repo)).toEqual([d2, d3, d4].map((b) => posix.basename(vhd(b))))
    const file = await openLocalFile(join(root, vhd(d2)))
    const summary = await checkVhdFile(file)
    await file.close()
    expect(summary.footer.diskType).toBe(DiskType.Dynamic)
    expect(summary.footer.uniqueId).toBe(d2.disks.get(repo.disks[0]!.ref)!.uuid)

    // Its metadata says so (XO rewrites the same fields), and the cache matches the metadata files.
    const metadata = JSON.parse(await readFile(join(root, d2.path), 'utf8'))
    expect(metadata.isVhdDifferencing).toEqual({ [repo.disks[0]!.ref]: false })
    expect(metadata.size).toBe(summary.fileSize)
    const cache = JSON.parse(gunzipSync(await readFile(join(root, cachePath(repo.vmUuid)))).toString())
    expect(Object.keys(cache).sort()).toEqual([d2, d3, d4].map((b) => `/${b.path}`))
    expect(cache[`/${d2.path}`].size).toBe(summary.fileSize)

    const listing = await listVmBackups(backend, repo.vmUuid)
    expect(listing.backups.map((b) => [b.path, b.status])).toEqual([d2, d3, d4].map((b) => [b.path, 'complete']))
    for (const backup of [d2, d3, d4]) await expectBackupRestores(backend, backup)
    // qemu judges the merged full directly, and the restore stream of the newest backup.
    await expectQemuRawEquals(join(root, vhd(d2)), d2.disks.get(repo.disks[0]!.ref)!.content, 32 * 1024 * 1024, root)
    await expectQemuReadsRestore(backend, d4)

    // A second run has nothing left to do.
    const again = await clean(repo)
    expect(again).toMatchObject({ merges: [], removedFiles: [], removedBackups: [], warnings: [], pending: [] })
  })

  it('merges an orphan in the middle of a chain into its child, which stays a differencing disk', async () => {
    const repo = new Repository(backend)
    const full = await repo.full(T0, randomBlocks(8, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(3, 16))
    const d2 = await repo.delta(T0 + 2 * DAY, randomBlocks(3, 16))
    await forget(repo, [d1])

    const result = await clean(repo)
    expect(result.merges).toHaveLength(1)
    expect(result.merges[0]!.child).toBe(d2.disks.get(repo.disks[0]!.ref)!.vhd)
    const metadata = JSON.parse(await readFile(join(root, d2.path), 'utf8'))
    expect(metadata.isVhdDifferencing[repo.disks[0]!.ref]).toBe(true)
    for (const backup of [full, d2]) await expectBackupRestores(backend, backup)
  })

  it('handles several disks per backup and merges each chain', async () => {
    const repo = new Repository(backend, {
      disks: [
        { ref: 'OpaqueRef:disk-a', liveUuid: '11111111-1111-4111-8111-111111111111', virtualSize: 20 * 1024 * 1024 },
        { ref: 'OpaqueRef:disk-b', liveUuid: '22222222-2222-4222-8222-222222222222', virtualSize: 24 * 1024 * 1024 },
      ],
    })
    await repo.full(T0, { 'OpaqueRef:disk-a': [0, 3, 9], 'OpaqueRef:disk-b': [1, 11] })
    const d1 = await repo.delta(T0 + DAY, { 'OpaqueRef:disk-a': [3], 'OpaqueRef:disk-b': [2, 5] })
    const d2 = await repo.delta(T0 + 2 * DAY, { 'OpaqueRef:disk-a': [9, 4] })
    await forget(repo, [repo.backups[0]!])
    const result = await clean(repo)
    expect(result.merges).toHaveLength(2)
    expect(JSON.parse(await readFile(join(root, d1.path), 'utf8')).isVhdDifferencing).toEqual({
      'OpaqueRef:disk-a': false,
      'OpaqueRef:disk-b': false,
    })
    for (const backup of [d1, d2]) await expectBackupRestores(backend, backup)
  })

  it('rewrites the flag under the older "<ref>.vhd" key XO used', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0, 1, 2])
    const d1 = await repo.delta(T0 + DAY, [1])
    const ref = repo.disks[0]!.ref
    const metadata = JSON.parse(await readFile(join(root, d1.path), 'utf8'))
    metadata.isVhdDifferencing = { [`${ref}.vhd`]: true }
    await writeFile(join(root, d1.path), JSON.stringify(metadata))
    await forget(repo, [repo.backups[0]!])
    await clean(repo)
    expect(JSON.parse(await readFile(join(root, d1.path), 'utf8')).isVhdDifferencing).toEqual({ [`${ref}.vhd`]: false })
    await expectBackupRestores(backend, d1)
  })
})

describe('clean-vm deletes what no backup needs, and only that', () => {
  it('removes incomplete backups, VHDs nothing uses, orphan XVAs, temporary files and stale merge states', async () => {
    const repo = new Repository(backend)
    const full = await repo.full(T0, [0, 1, 2, 3])
    const d1 = await repo.delta(T0 + DAY, [1])
    const d2 = await repo.delta(T0 + 2 * DAY, [2])
    // A run that wrote its VHD but died before committing: an orphan leaf.
    const uncommitted = await repo.delta(T0 + 3 * DAY, [3], { commit: false })
    const vhd = (b: BuiltBackup) => b.disks.get(repo.disks[0]!.ref)!.vhd
    // d2's disk lost: d2 is incomplete.
    await unlink(join(root, vhd(d2)))
    // A full backup whose XVA is gone, and an XVA whose metadata is gone.
    const lostXva = await repo.xva(T0 + 4 * DAY)
    await unlink(join(root, lostXva.path.replace(/\.json$/, '.xva')))
    const orphanXva = await repo.xva(T0 + 5 * DAY)
    await unlink(join(root, orphanXva.path))
    const kept = await repo.xva(T0 + 6 * DAY)
    // Leftovers of crashed writes and a stale merge state; a file the format does not know.
    const tempInVm = `${repo.dir}/.1600000000000.${posix.basename(kept.path)}`
    const tempInVdi = `${repo.vdiDir()}/.1600000000000.20240505T030000Z.vhd`
    const staleState = `${repo.vdiDir()}/.20200101T000000Z.vhd.merge.json`
    for (const path of [tempInVm, tempInVdi, staleState]) await writeFile(join(root, path), '{}')
    await writeFile(join(root, repo.dir, 'notes.txt'), 'kept')

    // Without remove, nothing is deleted, everything is reported as pending.
    const dry = await clean(repo, { remove: false })
    expect(dry.removedBackups).toEqual([])
    expect(dry.removedFiles).toEqual([])
    expect(dry.pending.map((p) => p.paths[0]).sort()).toEqual(
      [
        d2.path,
        lostXva.path,
        vhd(uncommitted),
        orphanXva.path.replace(/\.json$/, '.xva'),
        orphanXva.path.replace(/\.json$/, '.xva.checksum'),
        tempInVm,
        tempInVdi,
        staleState,
      ].sort(),
    )
    expect(dry.cacheRegenerated).toBe(true)

    const result = await clean(repo)
    expect(result.removedBackups.map((r) => r.path).sort()).toEqual([d2.path, lostXva.path].sort())
    expect(result.removedBackups.find((r) => r.path === d2.path)!.reason).toContain(`${vhd(d2)} is missing`)
    expect(result.removedFiles.map((r) => r.path).sort()).toEqual(
      [
        lostXva.path.replace(/\.json$/, '.xva.checksum'),
        vhd(uncommitted),
        orphanXva.path.replace(/\.json$/, '.xva'),
        orphanXva.path.replace(/\.json$/, '.xva.checksum'),
        tempInVm,
        tempInVdi,
        staleState,
      ].sort(),
    )
    expect(result.warnings.map((w) => w.code).sort()).toEqual([
      'INCOMPLETE_BACKUP',
      'INCOMPLETE_BACKUP',
      'UNKNOWN_FILE',
    ])
    expect(await listTree(join(root, repo.dir))).toEqual(
      [
        'cache.json.gz',
        'notes.txt',
        posix.basename(full.path),
        posix.basename(d1.path),
        posix.basename(kept.path),
        posix.basename(kept.path).replace('.json', '.xva'),
        posix.basename(kept.path).replace('.json', '.xva.checksum'),
        `vdis/${repo.jobId}/${repo.disks[0]!.liveUuid}/${posix.basename(vhd(full))}`,
        `vdis/${repo.jobId}/${repo.disks[0]!.liveUuid}/${posix.basename(vhd(d1))}`,
      ].sort(),
    )
    for (const backup of [full, d1]) await expectBackupRestores(backend, backup)
  })

  it('a VHD whose parent is missing makes its backups incomplete, and their descendants with them', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0, 1])
    const d1 = await repo.delta(T0 + DAY, [1])
    const d2 = await repo.delta(T0 + 2 * DAY, [0])
    await unlink(join(root, d1.disks.get(repo.disks[0]!.ref)!.vhd))
    const result = await clean(repo)
    expect(result.removedBackups.map((r) => r.path).sort()).toEqual([d1.path, d2.path].sort())
    expect(result.removedBackups.find((r) => r.path === d2.path)!.reason).toContain('its parent')
    expect(result.removedFiles.map((r) => r.path)).toEqual([d2.disks.get(repo.disks[0]!.ref)!.vhd])
    await expectBackupRestores(backend, repo.backups[0]!)
  })

  it('a corrupt VHD is reported and its backup removed', async () => {
    const repo = new Repository(backend)
    const full = await repo.full(T0, [0, 1])
    const d1 = await repo.delta(T0 + DAY, [1])
    const d1Vhd = join(root, d1.disks.get(repo.disks[0]!.ref)!.vhd)
    const bytes = await readFile(d1Vhd)
    bytes[100] = bytes[100]! ^ 0xff // inside the leading footer: its checksum no longer matches
    await writeFile(d1Vhd, bytes)
    const result = await clean(repo, { remove: false })
    expect(result.warnings.map((w) => w.code).sort()).toEqual(['BROKEN_VHD', 'INCOMPLETE_BACKUP'])
    expect(result.warnings.find((w) => w.code === 'BROKEN_VHD')!.message).toMatch(/checksum/)
    const removed = await clean(repo)
    expect(removed.removedBackups.map((r) => r.path)).toEqual([d1.path])
    expect(removed.removedFiles.map((r) => r.path)).toEqual([d1.disks.get(repo.disks[0]!.ref)!.vhd])
    await expectBackupRestores(backend, full)
  })

  it('reports two VHDs with one uuid, and deletes the copy no backup uses', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0, 1])
    const d1 = await repo.delta(T0 + DAY, [1])
    const copy = `${repo.vdiDir()}/20990101T000000Z.vhd`
    await copyFile(join(root, d1.disks.get(repo.disks[0]!.ref)!.vhd), join(root, copy))
    const result = await clean(repo)
    expect(result.warnings.map((w) => w.code)).toEqual(['DUPLICATE_VHD_UUID'])
    expect(result.warnings[0]!.paths).toEqual([d1.disks.get(repo.disks[0]!.ref)!.vhd, copy])
    expect(result.removedFiles.map((r) => r.path)).toEqual([copy])
    await expectBackupRestores(backend, d1)
  })

  it('with checkXva, reports a cut XVA and keeps it (XO never deletes one that only looks invalid)', async () => {
    const repo = new Repository(backend)
    const full = await repo.xva(T0)
    const xva = join(root, full.path.replace(/\.json$/, '.xva'))
    await writeFile(xva, (await readFile(xva)).subarray(0, 1024 * 1024))
    lock = await acquireLock(backend, repo.dir)
    const result = await cleanVm(backend, repo.vmUuid, { merge: true, remove: true, lock, checkXva: true })
    expect(result.warnings.map((w) => [w.code, w.paths])).toEqual([
      ['INVALID_XVA', [full.path.replace(/\.json$/, '.xva')]],
    ])
    expect(result.warnings[0]!.message).toMatch(/does not look like a complete XVA/)
    expect(result.removedBackups).toEqual([])
    expect(result.removedFiles).toEqual([])
  })

  it('deletes nothing and merges nothing while a metadata file cannot be read', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0, 1])
    const d1 = await repo.delta(T0 + DAY, [1])
    await repo.delta(T0 + 2 * DAY, [0], { commit: false })
    await forget(repo, [repo.backups[0]!])
    await writeFile(join(root, repo.dir, '20240601T000000Z.json'), '{"mode": "delta", "vhds": {')
    const before = await listTree(join(root, repo.dir))
    const result = await clean(repo)
    expect(result.merges).toEqual([])
    expect(result.removedFiles).toEqual([])
    expect(result.warnings.map((w) => w.code)).toEqual(['UNREADABLE_METADATA'])
    expect(result.warnings[0]!.paths).toEqual([`${repo.dir}/20240601T000000Z.json`])
    expect((await listTree(join(root, repo.dir))).filter((f) => f !== 'cache.json.gz')).toEqual(
      before.filter((f) => f !== 'cache.json.gz'),
    )
    await expectBackupRestores(backend, d1)
  })

  it('keeps the VHDs a metadata file it does not understand names', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0, 1])
    const orphan = await repo.delta(T0 + DAY, [1], { commit: false })
    const vhd = orphan.disks.get(repo.disks[0]!.ref)!.vhd
    await writeFile(
      join(root, repo.dir, '20240601T000000Z.json'),
      JSON.stringify({ mode: 'delta', version: '3.0.0', vhds: { x: vhd.slice(repo.dir.length + 1) } }),
    )
    const result = await clean(repo)
    expect(result.warnings.map((w) => w.code)).toEqual(['INVALID_METADATA'])
    expect(result.removedFiles).toEqual([])
    expect(await vdiFiles(repo)).toContain(posix.basename(vhd))
  })
})

describe('clean-vm and branches (XO stops at "multiple children")', () => {
  it('deletes a branch no backup uses, then merges into the branch backups use', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, randomBlocks(6, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(2, 16))
    // A run that failed after writing its VHD on d1, then the next run chained on d1 again.
    const failed = await repo.delta(T0 + 2 * DAY, randomBlocks(2, 16), { base: d1, commit: false })
    const d2 = await repo.delta(T0 + 3 * DAY, randomBlocks(3, 16), { base: d1 })
    await forget(repo, [repo.backups[0]!, d1])

    const result = await clean(repo)
    expect(result.warnings).toEqual([])
    expect(result.removedFiles).toEqual([
      { path: failed.disks.get(repo.disks[0]!.ref)!.vhd, reason: 'no complete backup uses it, nor any disk above it' },
    ])
    expect(result.merges).toHaveLength(2)
    expect(await vdiFiles(repo)).toEqual([posix.basename(d2.disks.get(repo.disks[0]!.ref)!.vhd)])
    await expectBackupRestores(backend, d2)
  })

  it('keeps a base two used branches share, says which backups use each, and merges nothing into it', async () => {
    const repo = new Repository(backend)
    const full = await repo.full(T0, randomBlocks(6, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(2, 16))
    const a = await repo.delta(T0 + 2 * DAY, randomBlocks(2, 16), { base: d1 })
    const b = await repo.delta(T0 + 3 * DAY, randomBlocks(2, 16), { base: d1 })
    await forget(repo, [d1])

    const result = await clean(repo)
    expect(result.merges).toEqual([])
    expect(result.removedFiles).toEqual([])
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings[0]!.code).toBe('MULTIPLE_CHILDREN')
    expect(result.warnings[0]!.message).toContain(`used by ${a.path}`)
    expect(result.warnings[0]!.message).toContain(`used by ${b.path}`)
    for (const backup of [full, a, b]) await expectBackupRestores(backend, backup)

    // When retention drops one branch, the base is merged into the other.
    await forget(repo, [a])
    const later = await clean(repo)
    expect(later.warnings).toEqual([])
    expect(later.removedFiles.map((r) => r.path)).toEqual([a.disks.get(repo.disks[0]!.ref)!.vhd])
    expect(later.merges.map((m) => m.child)).toEqual([b.disks.get(repo.disks[0]!.ref)!.vhd])
    for (const backup of [full, b]) await expectBackupRestores(backend, backup)
  })

  it('without remove, an unused sibling blocks the merge and says so', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, randomBlocks(4, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(2, 16))
    await repo.delta(T0 + 2 * DAY, randomBlocks(2, 16), { base: d1, commit: false })
    const d2 = await repo.delta(T0 + 3 * DAY, randomBlocks(2, 16), { base: d1 })
    await forget(repo, [d1])
    const result = await clean(repo, { remove: false })
    expect(result.merges).toEqual([])
    expect(result.pending.some((p) => p.action === 'merge' && p.reason.includes('must be removed before'))).toBe(true)
    await expectBackupRestores(backend, d2)
  })
})

describe('clean-vm finishes merges a crash cut short', () => {
  it('a rename cut the SMB way (target deleted, parent not yet renamed) is finished from the state file', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, randomBlocks(6, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(3, 16))
    await forget(repo, [repo.backups[0]!])
    lock ??= await acquireLock(backend, repo.dir)
    const failing = cutRename(backend)
    const first = await cleanVm(failing, repo.vmUuid, { merge: true, remove: true, lock })
    expect(first.warnings.map((w) => w.code)).toEqual(['MERGE_FAILED'])
    expect(await vdiFiles(repo)).toEqual([posix.basename(repo.backups[0]!.disks.get(repo.disks[0]!.ref)!.vhd)])

    // The child is gone, the backup's JSON must survive: the merged parent takes its place.
    const second = await clean(repo)
    expect(second.removedBackups).toEqual([])
    expect(second.merges).toHaveLength(1)
    expect(second.merges[0]).toMatchObject({ resumed: true, child: d1.disks.get(repo.disks[0]!.ref)!.vhd })
    await expectBackupRestores(backend, d1)
  })

  it("the same cut with the state file lost too: the parent carrying the missing disk's uuid is renamed into place", async () => {
    const repo = new Repository(backend)
    await repo.full(T0, randomBlocks(6, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(3, 16))
    await forget(repo, [repo.backups[0]!])
    lock ??= await acquireLock(backend, repo.dir)
    await cleanVm(cutRename(backend), repo.vmUuid, { merge: true, remove: true, lock })
    const state = (await listTree(join(root, repo.vdiDir()))).find((name) => name.endsWith('.merge.json'))!
    await unlink(join(root, repo.vdiDir(), state))

    const result = await clean(repo)
    expect(result.removedBackups).toEqual([])
    expect(result.removedFiles).toEqual([])
    expect(result.merges.map((m) => m.child)).toEqual([d1.disks.get(repo.disks[0]!.ref)!.vhd])
    await expectBackupRestores(backend, d1)
  })
})

describe('clean-vm without merges', () => {
  it('still finishes a merge that only lacks its rename, so that removal never deletes that backup', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, randomBlocks(6, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(3, 16))
    await forget(repo, [repo.backups[0]!])
    lock ??= await acquireLock(backend, repo.dir)
    await cleanVm(cutRename(backend), repo.vmUuid, { merge: true, remove: true, lock })
    // XO's writers with a merge worker run clean-up with remove and without merge.
    const result = await clean(repo, { merge: false, remove: true })
    expect(result.removedBackups).toEqual([])
    expect(result.merges.map((m) => [m.child, m.mergedBlocks])).toEqual([[d1.disks.get(repo.disks[0]!.ref)!.vhd, 0]])
    await expectBackupRestores(backend, d1)
  })

  it('leaves a merge that still has blocks to copy, and keeps its parent', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, randomBlocks(6, 16))
    const d1 = await repo.delta(T0 + DAY, randomBlocks(3, 16))
    await forget(repo, [repo.backups[0]!])
    const result = await clean(repo, { merge: false, remove: true })
    expect(result.merges).toEqual([])
    expect(result.removedFiles).toEqual([])
    expect(result.pending).toEqual([
      {
        action: 'merge',
        paths: [repo.backups[0]!.disks.get(repo.disks[0]!.ref)!.vhd, d1.disks.get(repo.disks[0]!.ref)!.vhd],
        reason: expect.stringContaining('used by no backup but is the base of'),
      },
    ])
    await expectBackupRestores(backend, d1)
  })

  it('takes the VM lock itself when not given one, and says who holds it when it cannot', async () => {
    const repo = new Repository(backend)
    await repo.full(T0, [0])
    const result = await cleanVm(backend, repo.vmUuid, { merge: true, remove: true })
    expect(result.warnings).toEqual([])
    lock = await acquireLock(backend, repo.dir, { runId: 'nightly-run' })
    await expect(cleanVm(backend, repo.vmUuid, { merge: true, remove: true })).rejects.toThrow(
      /Lock file is already being held: .* locked by xcp-backup run nightly-run/,
    )
  })
})

/** A backend whose rename deletes the target and then fails, as libsmbclient's rename can be cut. */
function cutRename(inner: RemoteBackend): RemoteBackend {
  return {
    ...inner,
    name: inner.name,
    capabilities: inner.capabilities,
    save: (...args) => inner.save(...args),
    open: (...args) => inner.open(...args),
    read: (...args) => inner.read(...args),
    stat: (...args) => inner.stat(...args),
    list: (...args) => inner.list(...args),
    remove: (...args) => inner.remove(...args),
    removeDirectory: (...args) => inner.removeDirectory(...args),
    mkdir: (...args) => inner.mkdir(...args),
    setModifiedTime: (...args) => inner.setModifiedTime(...args),
    freeSpace: () => inner.freeSpace(),
    close: () => inner.close(),
    rename: async (from, to) => {
      if (from.endsWith('.vhd') && to.endsWith('.vhd')) {
        await inner.remove(to)
        throw new Error('connection lost in the middle of the rename')
      }
      return inner.rename(from, to)
    },
  }
}
