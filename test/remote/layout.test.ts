import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RemoteBackend } from '../../provider/remote/backend'
import { FileBackend } from '../../provider/remote/file/file-backend'
import { withLogging } from '../../provider/remote/instrumented'
import { saveDeltaDisk, saveFullBackupData } from '../../provider/remote/layout/backup-data'
import { readVmBackupCache } from '../../provider/remote/layout/cache'
import { readMergeState, removeMergeState, writeMergeState } from '../../provider/remote/layout/merge-state'
import type { NewDeltaBackupMetadata, NewFullBackupMetadata } from '../../provider/remote/layout/metadata'
import {
  mergeStatePath,
  metadataPath,
  resolveInside,
  vhdField,
  vmBackupDir,
  xvaPath,
} from '../../provider/remote/layout/paths'
import { assertWritableRepository, removeStaleTemporaryFiles } from '../../provider/remote/layout/repository'
import {
  formatBackupDateTime,
  formatFilenameDate,
  parseBackupDateTime,
  parseFilenameDate,
} from '../../provider/remote/layout/timestamps'
import {
  commitVmBackup,
  deleteVmBackups,
  listAllVms,
  listVmBackups,
  replaceVmBackupMetadata,
} from '../../provider/remote/layout/vm-backups'
import { acquireLock } from '../../provider/remote/lock'
import { readSmallFile, saveSmallFile } from '../../provider/remote/small-files'
import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { startSamba } from '../helpers/samba'
import { chunked, patterned } from './backend-contract'

const XO_VM = '4c2f5a3e-8d1b-4e6a-9f0c-2b7d1e9a6c35'
const XO_JOB = 'd4a1e6b2-3c5f-4a8e-9b7d-1f2e3c4d5a6b'
const fixtures = join(__dirname, 'fixtures', 'xo')

describe('backup time formats', () => {
  it('formats and parses file-name dates and xo:backup:datetime, in UTC', () => {
    expect(formatFilenameDate(1787281212000)).toBe('20260821T030012Z')
    expect(formatFilenameDate(new Date('2026-08-21T03:00:12.999Z'))).toBe('20260821T030012Z')
    expect(formatBackupDateTime(1787281212000)).toBe('20260821T03:00:12Z')
    expect(parseFilenameDate('20260821T030012Z').getTime()).toBe(1787281212000)
    expect(parseBackupDateTime('20260821T03:00:12Z').getTime()).toBe(1787281212000)
    // Both forms sort chronologically as strings.
    expect(['20261231T235959Z', '20260101T000000Z'].sort()).toEqual(['20260101T000000Z', '20261231T235959Z'])
  })

  it('rejects what is not a date, naming the text and the expected form', () => {
    expect(() => parseFilenameDate('20261340T030012Z')).toThrow(
      '"20261340T030012Z" is not a backup file date (expected YYYYMMDDTHHmmssZ, UTC)',
    )
    expect(() => parseFilenameDate('20260821T030012')).toThrow(/not a backup file date/)
    expect(() => parseBackupDateTime('20260821T030012Z')).toThrow(/expected YYYYMMDDTHH:mm:ssZ/)
  })
})

describe('repository paths', () => {
  it("follows XO's tree", () => {
    expect(metadataPath(XO_VM, 1787281212000)).toBe(`xo-vm-backups/${XO_VM}/20260821T030012Z.json`)
    expect(xvaPath(XO_VM, 1787281212000)).toBe(`xo-vm-backups/${XO_VM}/20260821T030012Z.xva`)
    expect(vhdField(XO_JOB, '5f4e3d2c-1b0a-4998-8776-655443322110', 1787281212000)).toBe(
      `vdis/${XO_JOB}/5f4e3d2c-1b0a-4998-8776-655443322110/20260821T030012Z.vhd`,
    )
    expect(mergeStatePath(`xo-vm-backups/${XO_VM}/vdis/j/v/20260821T030012Z.vhd`)).toBe(
      `xo-vm-backups/${XO_VM}/vdis/j/v/.20260821T030012Z.vhd.merge.json`,
    )
  })

  it('refuses ids and metadata paths that would leave their folder', () => {
    expect(() => vmBackupDir('../etc')).toThrow('invalid VM uuid "../etc": expected a uuid')
    expect(() => vhdField('a/b', XO_VM, 0)).toThrow(/invalid job id "a\/b"/)
    const dir = vmBackupDir(XO_VM)
    expect(resolveInside(dir, dir, './vdis/x.vhd')).toBe(`${dir}/vdis/x.vhd`)
    expect(() => resolveInside(dir, dir, '../other-vm/x.xva')).toThrow(/outside the VM's backup directory/)
    expect(() => resolveInside(dir, dir, '../../../../etc/passwd')).toThrow(/leaves the remote/)
  })
})

const subjects: [string, () => Promise<{ backend: RemoteBackend; cleanup(): Promise<void> }>][] = [
  [
    'file',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'xcp-layout-'))
      return { backend: await FileBackend.open(root), cleanup: () => rm(root, { recursive: true, force: true }) }
    },
  ],
  [
    'smb',
    async () => {
      const samba = await startSamba()
      const backend = await SmbBackend.connect(samba.location(), samba.password).catch(async (error: unknown) => {
        await samba.stop()
        throw error
      })
      return {
        backend,
        cleanup: async () => {
          await backend.close()
          await samba.stop()
        },
      }
    },
  ],
]

describe.each(subjects)('XO repository layout on a %s remote', (_name, setup) => {
  let backend: RemoteBackend
  let cleanup: () => Promise<void>
  let vmCounter = 0
  const newVm = () => `00000000-0000-4000-8000-${String(++vmCounter).padStart(12, '0')}`

  beforeAll(async () => {
    ;({ backend, cleanup } = await setup())
  })
  afterAll(() => cleanup?.())

  it('writes a full backup (XVA, checksum, metadata) that reads back as written and complete', async () => {
    const vm = newVm()
    const timestamp = 1787281212000
    const xva = patterned(200_000, 11)
    const data = await saveFullBackupData(backend, vm, timestamp, chunked(xva, 30_000))
    expect(data).toEqual({ xva: './20260821T030012Z.xva', size: xva.length })
    const checksum = (await readSmallFile(backend, `${xvaPath(vm, timestamp)}.checksum`)).toString()
    expect(checksum).toBe(`$1$$${(await import('node:crypto')).createHash('md5').update(xva).digest('hex')}`)

    const metadata = fullMetadata(vm, timestamp, data)
    const path = await commitVmBackup(backend, metadata)
    expect(path).toBe(metadataPath(vm, timestamp))
    // Compact JSON, exactly the fields given (XO writes JSON.stringify(metadata)).
    expect((await readSmallFile(backend, path)).toString()).toBe(JSON.stringify(metadata))

    const listing = await listVmBackups(backend, vm)
    expect(listing.unreadable).toEqual([])
    expect(listing.backups).toHaveLength(1)
    expect(listing.backups[0]).toMatchObject({ path, status: 'complete', missing: [], metadata })
    expect(listing.backups[0]!.dataFiles).toEqual([xvaPath(vm, timestamp), `${xvaPath(vm, timestamp)}.checksum`])
  })

  it('refuses to write metadata that is not exactly the format, naming the fields', async () => {
    const vm = newVm()
    const timestamp = 1787281212000
    const data = await saveFullBackupData(backend, vm, timestamp, chunked(patterned(1000, 1), 100))
    const good = fullMetadata(vm, timestamp, data)
    await expect(commitVmBackup(backend, { ...good, surprise: 1 } as NewFullBackupMetadata)).rejects.toThrow(
      /is not valid: \(top level\): Unrecognized key: "surprise"/,
    )
    await expect(commitVmBackup(backend, { ...good, xva: './other.xva' })).rejects.toThrow(
      /field xva: must be ".\/20260821T030012Z.xva" \(derived from timestamp\)/,
    )
    await expect(commitVmBackup(backend, { ...good, version: '1.0.0' as '2.0.0' })).rejects.toThrow(/field version/)
    await expect(
      commitVmBackup(backend, { ...good, timestamp: timestamp + 1000, xva: './20260821T030013Z.xva' }),
    ).rejects.toMatchObject({
      code: 'EINVALID',
      message: expect.stringMatching(/its data files are missing \(.*20260821T030013Z\.xva\); write them first/),
    })
    // A lock that is no longer held stops the commit.
    const lock = await acquireLock(backend, vmBackupDir(vm))
    await lock.release()
    await expect(commitVmBackup(backend, good, { lock })).rejects.toThrow(/was released/)
    await commitVmBackup(backend, good)
    // Data of an existing backup is never replaced, nor its metadata.
    await expect(saveFullBackupData(backend, vm, timestamp, [Buffer.from('other')])).rejects.toMatchObject({
      code: 'EEXIST',
    })
    expect((await readSmallFile(backend, xvaPath(vm, timestamp))).length).toBe(1000)
    await expect(commitVmBackup(backend, good)).rejects.toMatchObject({
      code: 'EEXIST',
      message: expect.stringContaining('already transferred'),
    })
  })

  it('writes a delta backup whose VHDs live under vdis/<job>/<vdi>/, and checks its consistency', async () => {
    const vm = newVm()
    const timestamp = 1787367612000
    const vdi = '5f4e3d2c-1b0a-4998-8776-655443322110'
    const disk = await saveDeltaDisk(
      backend,
      { vmUuid: vm, jobId: XO_JOB, vdiUuid: vdi, timestamp },
      chunked(patterned(5000, 2), 1000),
    )
    expect(disk.vhd).toBe(`vdis/${XO_JOB}/${vdi}/20260822T030012Z.vhd`)
    const metadata = deltaMetadata(vm, timestamp, { 'OpaqueRef:d1': disk.vhd })
    await expect(commitVmBackup(backend, { ...metadata, isVhdDifferencing: {} })).rejects.toThrow(
      /field isVhdDifferencing: says nothing about disk OpaqueRef:d1/,
    )
    await expect(
      commitVmBackup(backend, { ...metadata, vhds: { 'OpaqueRef:d1': `vdis/other-job/${vdi}/20260822T030012Z.vhd` } }),
    ).rejects.toThrow(
      /field vhds.OpaqueRef:d1: must be "vdis\/d4a1e6b2-3c5f-4a8e-9b7d-1f2e3c4d5a6b\/<vdi uuid>\/20260822T030012Z.vhd"/,
    )
    await commitVmBackup(backend, metadata)
    await expect(
      saveDeltaDisk(backend, { vmUuid: vm, jobId: XO_JOB, vdiUuid: vdi, timestamp }, [Buffer.from('x')]),
    ).rejects.toMatchObject({ code: 'EEXIST' })
    const [backup] = (await listVmBackups(backend, vm)).backups
    expect(backup).toMatchObject({ status: 'complete', metadata, dataFiles: [`${vmBackupDir(vm)}/${disk.vhd}`] })
  })

  it("reads XO's own metadata files: extra fields kept, older forms and XenServer < 7.1 booleans understood", async () => {
    await copyXoFixtures(backend)
    const listing = await listVmBackups(backend, XO_VM, { checkData: false })
    expect(listing.unreadable).toEqual([])
    expect(listing.backups.map((b) => formatFilenameDate(b.metadata.timestamp))).toEqual([
      '20260819T030012Z',
      '20260820T030012Z',
      '20260821T030012Z',
      '20260822T030012Z',
    ])
    const [legacy, older, full, delta] = listing.backups.map((b) => b.metadata) as Record<string, unknown>[]
    expect(full).toMatchObject({
      mode: 'full',
      futureXoField: { added: 'by a later XO' },
      tags: ['daily=2026-08-21', 'weekly=2026-34'],
    })
    expect((full!.vm as Record<string, unknown>).$ref).toBe('OpaqueRef:7f0b2c1e-0000-4000-8000-000000000000')
    expect(delta).toMatchObject({ mode: 'delta', includeNonNbdQcow2Fix: true, vtpms: [] })
    expect(
      (delta!.vifs as Record<string, Record<string, unknown>>)['OpaqueRef:cc000000-0000-4000-8000-000000000001']![
        '$network$VLAN'
      ],
    ).toBe(-1)
    expect(older).toMatchObject({ isVhdDifferencing: { 'OpaqueRef:aa000000-0000-4000-8000-000000000001.vhd': false } })
    expect(older!.tags).toBeUndefined()
    expect(legacy!.vm).toMatchObject({ is_a_template: false, ha_always_run: true, is_control_domain: false })
    expect(legacy!.vmSnapshot).toMatchObject({ is_a_template: false })
  })

  it('tells complete from incomplete backups, naming what is missing', async () => {
    await copyXoFixtures(backend)
    const dir = vmBackupDir(XO_VM)
    // Data for three of the four: the older delta's VHD is missing; the legacy full has no checksum.
    await saveSmallFile(backend, `${dir}/20260821T030012Z.xva`, 'xva')
    await saveSmallFile(backend, `${dir}/20260821T030012Z.xva.checksum`, '$1$$0')
    await saveSmallFile(backend, `${dir}/20260819T030012Z.xva`, 'xva')
    for (const vdi of ['5f4e3d2c-1b0a-4998-8776-655443322110', '6a5b4c3d-2e1f-4a09-8b87-766554433221']) {
      await backend.mkdir(`${dir}/vdis/${XO_JOB}/${vdi}`, { recursive: true })
      await saveSmallFile(backend, `${dir}/vdis/${XO_JOB}/${vdi}/20260822T030012Z.vhd`, 'vhd')
    }
    const listing = await listVmBackups(backend, XO_VM)
    const status = Object.fromEntries(
      listing.backups.map((b) => [formatFilenameDate(b.metadata.timestamp), [b.status, b.missing]]),
    )
    expect(status).toEqual({
      '20260819T030012Z': ['complete', []],
      '20260820T030012Z': [
        'incomplete',
        [`${dir}/vdis/${XO_JOB}/5f4e3d2c-1b0a-4998-8776-655443322110/20260820T030012Z.vhd`],
      ],
      '20260821T030012Z': ['complete', []],
      '20260822T030012Z': ['complete', []],
    })
  })

  it('keeps cache.json.gz in XO format: regenerated when missing, stale or unreadable; updated when present', async () => {
    const vm = newVm()
    const cacheFile = `${vmBackupDir(vm)}/cache.json.gz`
    const first = await commitFull(backend, vm, 1787281212000)
    // Committing with no cache leaves it missing (XO too); the next listing builds it.
    expect(await readVmBackupCache(backend, vm)).toEqual({ status: 'missing' })
    expect((await listVmBackups(backend, vm)).cache).toBe('regenerated')
    const cache = JSON.parse(gunzipSync(await readSmallFile(backend, cacheFile)).toString())
    const key = `/${first}`
    expect(Object.keys(cache)).toEqual([key])
    expect(cache[key]).toMatchObject({ _filename: key, id: key, mode: 'full', timestamp: 1787281212000 })
    expect((await listVmBackups(backend, vm)).cache).toBe('used')

    // Present: a commit adds its entry, and listings keep using it.
    const second = await commitFull(backend, vm, 1787281213000)
    expect(Object.keys(((await readVmBackupCache(backend, vm)) as { cache: object }).cache).sort()).toEqual([
      key,
      `/${second}`,
    ])
    expect((await listVmBackups(backend, vm)).cache).toBe('used')

    // A metadata file removed behind the cache's back makes it stale: rebuilt.
    await backend.remove(second)
    const rebuilt = await listVmBackups(backend, vm)
    expect(rebuilt.cache).toBe('regenerated')
    expect(rebuilt.backups.map((b) => b.path)).toEqual([first])

    // Garbage instead of gzip: rebuilt, not an error.
    await saveSmallFile(backend, cacheFile, 'not gzip')
    expect((await listVmBackups(backend, vm)).cache).toBe('regenerated')
    expect((await readVmBackupCache(backend, vm)).status).toBe('ok')
  })

  it('uses an XO-written cache as it is, _filename and id included', async () => {
    await copyXoFixtures(backend)
    const dir = vmBackupDir(XO_VM)
    const cache: Record<string, unknown> = {}
    for (const name of await readdir(fixtures)) {
      if (!name.endsWith('.json')) continue
      const key = `/${dir}/${name}`
      cache[key] = {
        ...JSON.parse(await readFile(join(fixtures, name), 'utf8')),
        _filename: key,
        id: key,
        isImmutable: false,
      }
    }
    await saveSmallFile(backend, `${dir}/cache.json.gz`, gzipSync(JSON.stringify(cache)))
    const listing = await listVmBackups(backend, XO_VM, { checkData: false })
    expect(listing.cache).toBe('used')
    expect(listing.backups).toHaveLength(4)
    for (const backup of listing.backups) {
      expect(backup.metadata).not.toHaveProperty('_filename')
      expect(backup.metadata).not.toHaveProperty('isImmutable')
    }
  })

  it('reports unreadable metadata with the reason and leaves it in place', async () => {
    const vm = newVm()
    await commitFull(backend, vm, 1787281212000)
    const broken = `${vmBackupDir(vm)}/20260821T040000Z.json`
    await saveSmallFile(backend, broken, '{"mode":"full","version":"2.0.0"')
    const wrong = `${vmBackupDir(vm)}/20260821T050000Z.json`
    await saveSmallFile(backend, wrong, JSON.stringify({ mode: 'delta', version: '2.0.0' }))
    const listing = await listVmBackups(backend, vm)
    expect(listing.backups).toHaveLength(1)
    expect(listing.unreadable).toEqual([
      {
        path: broken,
        reason: expect.stringMatching(/^backup metadata ".*20260821T040000Z.json" is not valid: not JSON/),
      },
      { path: wrong, reason: expect.stringMatching(/field jobId: .*; field scheduleId/) },
    ])
    expect((await backend.stat(broken)).kind).toBe('file')
  })

  it('deletes a full backup (metadata first, then XVA and checksum) and a delta backup (metadata only)', async () => {
    const vm = newVm()
    const events: { operation: string; path?: string }[] = []
    const logged = withLogging(backend, (event) => events.push(event))
    await commitFull(backend, vm, 1787281212000)
    const vdi = '5f4e3d2c-1b0a-4998-8776-655443322110'
    const deltas = [1787367612000, 1787454012000]
    for (const timestamp of deltas) {
      const disk = await saveDeltaDisk(backend, { vmUuid: vm, jobId: XO_JOB, vdiUuid: vdi, timestamp }, [
        Buffer.from('vhd'),
      ])
      await commitVmBackup(backend, deltaMetadata(vm, timestamp, { 'OpaqueRef:d1': disk.vhd }))
    }
    await listVmBackups(backend, vm) // builds the cache
    const { backups } = await listVmBackups(backend, vm)
    await deleteVmBackups(logged, backups)

    const removed = events.filter((e) => e.operation === 'remove').map((e) => e.path!.slice(vmBackupDir(vm).length + 1))
    expect(removed).toEqual([
      // Deltas newest first, metadata only.
      '20260823T030012Z.json',
      '20260822T030012Z.json',
      // The full backup: metadata, then its data.
      '20260821T030012Z.json',
      '20260821T030012Z.xva',
      '20260821T030012Z.xva.checksum',
    ])
    const left = await backend.list(`${vmBackupDir(vm)}/vdis/${XO_JOB}/${vdi}`)
    expect(left.map((e) => e.name).sort()).toEqual(['20260822T030012Z.vhd', '20260823T030012Z.vhd'])
    expect(await readVmBackupCache(backend, vm)).toEqual({ status: 'ok', cache: {} })
    expect((await listVmBackups(backend, vm)).backups).toEqual([])
  })

  it('rewrites metadata after a merge, keeping fields XO added', async () => {
    await copyXoFixtures(backend)
    const [, , , delta] = (await listVmBackups(backend, XO_VM, { checkData: false })).backups
    const merged = {
      ...delta!.metadata,
      size: 123,
      isVhdDifferencing: { 'OpaqueRef:aa000000-0000-4000-8000-000000000001': false },
    }
    await replaceVmBackupMetadata(backend, delta!, merged)
    const written = JSON.parse((await readSmallFile(backend, delta!.path)).toString())
    expect(written).toMatchObject({ size: 123, includeNonNbdQcow2Fix: true })
    expect(written).not.toHaveProperty('_filename')
  })

  it('lists VMs, skipping lock directories, hidden entries and stray files', async () => {
    const vm = newVm()
    await commitFull(backend, vm, 1787281212000)
    await backend.mkdir(`xo-vm-backups/${vm}.lock`)
    await backend.mkdir('xo-vm-backups/.queue/clean-vm', { recursive: true })
    await saveSmallFile(backend, 'xo-vm-backups/stray.txt', 'x')
    const vms = await listAllVms(backend)
    expect(vms).toContain(vm)
    expect(vms.every((name) => !name.endsWith('.lock') && !name.startsWith('.') && name !== 'stray.txt')).toBe(true)
    await backend.removeDirectory(`xo-vm-backups/${vm}.lock`)
  })

  it('reads and writes merge states; a torn state reads as invalid, not as a crash', async () => {
    const parent = `${vmBackupDir(newVm())}/vdis/${XO_JOB}/v/20260821T030012Z.vhd`
    await backend.mkdir(`${parent.slice(0, parent.lastIndexOf('/'))}`, { recursive: true })
    expect(await readMergeState(backend, parent)).toEqual({ status: 'none' })
    const state = {
      child: { uuid: 'c' },
      parent: { uuid: 'p' },
      chain: ['20260821T030012Z.vhd', '20260822T030012Z.vhd'],
      currentBlock: 42,
      mergedDataSize: 2 * 1024 * 1024,
      step: 'mergeBlocks' as const,
      diskSize: 10,
    }
    await writeMergeState(backend, parent, state)
    expect(await readMergeState(backend, parent)).toEqual({ status: 'ok', state })
    await saveSmallFile(backend, mergeStatePath(parent), '{"child":{"uuid":"c"},"parent"')
    expect(await readMergeState(backend, parent)).toMatchObject({
      status: 'invalid',
      reason: expect.stringContaining('not JSON'),
    })
    await removeMergeState(backend, parent)
    expect(await readMergeState(backend, parent)).toEqual({ status: 'none' })
  })

  it('removes stale temporary files left by interrupted writes, and only those', async () => {
    const vm = newVm()
    await commitFull(backend, vm, 1787281212000)
    const dir = vmBackupDir(vm)
    await saveSmallFile(backend, `${dir}/.${Date.now() - 3_600_000}.20260821T040000Z.xva`, 'partial')
    await saveSmallFile(backend, `${dir}/.${Date.now()}.20260821T050000Z.xva`, 'in progress')
    const removed = await removeStaleTemporaryFiles(backend, dir, 600_000)
    expect(removed).toHaveLength(1)
    expect(removed[0]).toMatch(/\.\d+\.20260821T040000Z\.xva$/)
    const names = (await backend.list(dir)).map((e) => e.name)
    expect(names.some((n) => n.endsWith('20260821T050000Z.xva'))).toBe(true)
    expect(names).toContain('20260821T030012Z.xva')
  })

  it('refuses encrypted and immutable XO remotes', async () => {
    await assertWritableRepository(backend)
    await saveSmallFile(backend, 'immutability.json', '{}')
    await expect(assertWritableRepository(backend)).rejects.toThrow(/immutable Xen Orchestra remote/)
    await backend.remove('immutability.json')
    await saveSmallFile(backend, 'encryption.json', '{"algorithm":"chacha20-poly1305"}')
    await expect(assertWritableRepository(backend)).rejects.toThrow(/encrypted Xen Orchestra remote/)
    await backend.remove('encryption.json')
  })
})

async function copyXoFixtures(backend: RemoteBackend): Promise<void> {
  const dir = vmBackupDir(XO_VM)
  await backend.mkdir(dir, { recursive: true })
  for (const entry of await backend.list(dir)) if (entry.kind === 'file') await backend.remove(`${dir}/${entry.name}`)
  for (const name of await readdir(fixtures)) {
    if (name.endsWith('.json')) await saveSmallFile(backend, `${dir}/${name}`, await readFile(join(fixtures, name)))
  }
}

function fullMetadata(vm: string, timestamp: number, data: { xva: string; size: number }): NewFullBackupMetadata {
  return {
    jobId: XO_JOB,
    mode: 'full',
    scheduleId: 'a8c3e1f4-2b6d-4c9e-8f1a-3d5b7c9e1f2a',
    timestamp,
    version: '2.0.0',
    vm: { uuid: vm, name_label: 'vm', power_state: 'Running', other_config: {} },
    vmSnapshot: { uuid: '9e8d7c6b-5a49-4382-8716-0f1e2d3c4b5a', name_label: 'vm snapshot', is_a_snapshot: true },
    xva: data.xva,
    size: data.size,
    tags: ['daily=2026-08-21'],
  }
}

function deltaMetadata(vm: string, timestamp: number, vhds: Record<string, string>): NewDeltaBackupMetadata {
  const refs = Object.keys(vhds)
  return {
    isVhdDifferencing: Object.fromEntries(refs.map((ref) => [ref, false])),
    jobId: XO_JOB,
    mode: 'delta',
    scheduleId: 'a8c3e1f4-2b6d-4c9e-8f1a-3d5b7c9e1f2a',
    timestamp,
    vbds: {},
    vdis: Object.fromEntries(
      refs.map((ref) => [ref, { uuid: 'e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9', $snapshot_of$uuid: vm }]),
    ),
    version: '2.0.0',
    vifs: {},
    vhds,
    vm: { uuid: vm, name_label: 'vm' },
    vmSnapshot: { uuid: '1a2b3c4d-5e6f-4789-8abc-def012345678', name_label: 'vm snapshot' },
    vtpms: [],
    tags: [],
    size: 3,
  }
}

async function commitFull(backend: RemoteBackend, vm: string, timestamp: number): Promise<string> {
  const data = await saveFullBackupData(backend, vm, timestamp, [Buffer.from('xva data')])
  return commitVmBackup(backend, fullMetadata(vm, timestamp, data))
}
