import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { rewriteVhdStream } from '../../../provider/disk/vhd/rewrite'
import { createVhdStream } from '../../../provider/disk/vhd/stream-writer'
import { createXvaStream } from '../../../provider/disk/xva/xva-writer'
import { FileBackend } from '../../../provider/remote/file/file-backend'

/**
 * A VM directory as Xen Orchestra leaves it: the metadata files of test/remote/fixtures/xo (current
 * and older XO, XenServer < 7.1 booleans) with the data they name, written the way XO writes it
 * (VHDs chained by their parent unicode name, uuid = snapshot VDI uuid). The older full backup's XVA
 * is missing, so that backup is incomplete. Returns the disks' contents for restore checks.
 */
export const XO_VM = '4c2f5a3e-8d1b-4e6a-9f0c-2b7d1e9a6c35'
const XO_JOB = 'd4a1e6b2-3c5f-4a8e-9b7d-1f2e3c4d5a6b'
const BLOCK = 2 * 1024 * 1024

export interface XoFixture {
  /** Delta backup 20260822's disks: block index → content. */
  root: Map<number, Buffer>
  data: Map<number, Buffer>
}

export async function writeXoRepository(rootDir: string): Promise<XoFixture> {
  const fixtures = join(__dirname, '..', 'fixtures', 'xo')
  const vmDir = join(rootDir, 'xo-vm-backups', XO_VM)
  await mkdir(vmDir, { recursive: true })
  for (const name of await readdir(fixtures))
    if (name.endsWith('.json')) await copyFile(join(fixtures, name), join(vmDir, name))
  const backend = await FileBackend.open(rootDir)
  const dir = `xo-vm-backups/${XO_VM}`

  const disk = randomBytes(1024 * 1024)
  await backend.save(
    `${dir}/20260821T030012Z.xva`,
    createXvaStream({
      ovaXml: Buffer.from('<value/>'),
      disks: [{ ref: 'Ref:1', size: disk.length, readChunk: async () => disk }],
    }),
  )

  const rootVdi = `vdis/${XO_JOB}/5f4e3d2c-1b0a-4998-8776-655443322110`
  const dataVdi = `vdis/${XO_JOB}/6a5b4c3d-2e1f-4a09-8b87-766554433221`
  const base = new Map([
    [0, randomBytes(BLOCK)],
    [2560, randomBytes(BLOCK)],
  ])
  await writeVhd(
    backend,
    `${dir}/${rootVdi}/20260820T030012Z.vhd`,
    10 * 1024 ** 3,
    'd1d2c3b4-a596-4877-8695-a4b3c2d1e0f9',
    base,
  )
  const change = new Map([[1, randomBytes(BLOCK)]])
  await writeVhd(
    backend,
    `${dir}/${rootVdi}/20260822T030012Z.vhd`,
    10 * 1024 ** 3,
    'e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9',
    change,
    {
      uuid: 'd1d2c3b4-a596-4877-8695-a4b3c2d1e0f9',
      relativePath: '20260820T030012Z.vhd',
    },
  )
  const data = new Map([[10_000, randomBytes(BLOCK)]])
  await writeVhd(
    backend,
    `${dir}/${dataVdi}/20260822T030012Z.vhd`,
    20 * 1024 ** 3,
    'e2d3c4b5-a697-4988-8796-b5c4d3e2f1a0',
    data,
  )
  return { root: new Map([...base, ...change]), data }
}

async function writeVhd(
  backend: FileBackend,
  path: string,
  virtualSize: number,
  uuid: string,
  blocks: Map<number, Buffer>,
  parent?: { uuid: string; relativePath: string },
): Promise<void> {
  await backend.mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true })
  const indices = [...blocks.keys()].sort((a, b) => a - b)
  const stream = createVhdStream({
    virtualSize,
    diskType: parent === undefined ? 'dynamic' : 'differencing',
    uuid,
    parent: parent === undefined ? undefined : { uuid: parent.uuid, timestamp: 0, name: parent.relativePath },
    blocks: indices,
    readBlock: async (index) => blocks.get(index)!,
  })
  await backend.save(path, rewriteVhdStream(stream, { uuid, parent }))
}
