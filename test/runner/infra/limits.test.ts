import { describe, expect, it } from 'vitest'
import { delay } from '../../../provider/runner/clock'
import { jobVmLimiter, Limiter, PoolLimiters, type Release, VmSlots } from '../../../provider/runner/limits'
import { FakeClock, settle } from './helpers/fake-clock'

const settings = { snapshotConcurrency: 2, vdiExportConcurrency: 12, xvaExportConcurrency: 2 }

describe('Limiter', () => {
  it('grants slots in the order they were asked for and counts the peak', async () => {
    const limiter = new Limiter('test', 2)
    const order: number[] = []
    const releases: Release[] = []
    const waits = [0, 1, 2, 3, 4].map((i) =>
      limiter.acquire().then((release) => {
        order.push(i)
        releases.push(release)
      }),
    )
    await settle()
    expect(order).toEqual([0, 1])
    expect([limiter.active, limiter.waiting, limiter.peak]).toEqual([2, 3, 2])
    releases[1]!()
    releases[1]!() // twice: harmless
    await settle()
    expect(order).toEqual([0, 1, 2])
    expect(limiter.active).toBe(2)
    for (const release of releases) release()
    await settle()
    for (const release of releases) release()
    await Promise.all(waits)
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect([limiter.active, limiter.peak]).toEqual([0, 2])
    limiter.resetPeak()
    expect(limiter.peak).toBe(0)
  })

  it('never lets a waiter overtake an earlier one with a lower limit of its own', async () => {
    const limiter = new Limiter('pool snapshots', 2)
    const order: string[] = []
    const first = await limiter.acquire({ limit: 4 })
    const noting = (name: string) => (release: Release) => {
      order.push(name)
      return release
    }
    const strict = limiter.acquire({ limit: 1 }).then(noting('strict'))
    const loose = limiter.acquire({ limit: 4 }).then(noting('loose'))
    await settle()
    expect(order).toEqual([]) // loose could run under its own limit, but strict came first
    first()
    await settle()
    expect(order).toEqual(['strict', 'loose'])
    ;(await strict)()
    ;(await loose)()
  })

  it('treats 0 as unlimited and refuses a negative or fractional limit', async () => {
    const limiter = new Limiter('VMs', 0)
    const releases = await Promise.all(Array.from({ length: 100 }, () => limiter.acquire()))
    expect(limiter.peak).toBe(100)
    for (const release of releases) release()
    expect(() => new Limiter('bad', -1)).toThrow('limit must be a whole number')
    expect(() => new Limiter('bad', 1.5)).toThrow(RangeError)
  })

  it('rejects with the signal’s reason when aborted before or while waiting, and the slot goes to the next waiter', async () => {
    const limiter = new Limiter('exports', 1)
    const reason = new Error('stopping')
    await expect(limiter.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const held = await limiter.acquire()
    const controller = new AbortController()
    const aborted = limiter.acquire({ signal: controller.signal })
    const next = limiter.acquire()
    controller.abort(reason)
    await expect(aborted).rejects.toBe(reason)
    expect(limiter.waiting).toBe(1)
    held()
    const release = await next
    expect(limiter.active).toBe(1)
    release()
    expect([limiter.active, limiter.peak]).toEqual([0, 1])
  })

  it('lets the waiters behind an aborted head go when they fit', async () => {
    const limiter = new Limiter('pool snapshots', 2)
    const held = await limiter.acquire()
    const controller = new AbortController()
    const head = limiter.acquire({ limit: 1, signal: controller.signal })
    let behind = false
    const next = limiter.acquire().then((release) => {
      behind = true
      return release
    })
    await settle()
    expect(behind).toBe(false)
    controller.abort(new Error('stop'))
    await expect(head).rejects.toThrow('stop')
    ;(await next)()
    expect(behind).toBe(true)
    held()
  })

  it('gives the slot back when the work fails', async () => {
    const limiter = new Limiter('x', 1)
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(limiter.active).toBe(0)
  })
})

describe('VmSlots', () => {
  it('refuses to wait for an export slot while holding a snapshot slot', async () => {
    const slots = new VmSlots(new PoolLimiters().forPool('pool'), settings)
    await expect(slots.snapshot(() => slots.exportDisk(async () => 1))).rejects.toMatchObject({ code: 'SLOT_ORDER' })
    await expect(slots.snapshot(() => slots.exportVm(async () => 1))).rejects.toMatchObject({ code: 'SLOT_ORDER' })
    await expect(slots.snapshot(async () => 'snap').then(() => slots.exportDisk(async () => 'ok'))).resolves.toBe('ok')
  })
})

describe('a 50-VM job on a simulated clock', () => {
  const SNAPSHOT_MS = 5_000
  const disksOf = (vm: number) => (vm % 3) + 1
  const exportMs = (vm: number, disk: number) => (((vm * 37 + disk * 11) % 13) + 1) * 60_000

  interface Trace {
    snapshotStarts: { vm: number; at: number }[]
    vmStarts: number[]
  }

  async function simulate(options: { vms: number; concurrency: number; mode: 'delta' | 'full'; pool?: PoolLimiters }) {
    const clock = new FakeClock(0)
    const pool = (options.pool ?? new PoolLimiters()).forPool('pool-1')
    const vmLimiter = jobVmLimiter('nightly', options.concurrency)
    const slots = new VmSlots(pool, settings)
    const trace: Trace = { snapshotStarts: [], vmStarts: [] }
    const backupVm = async (vm: number) => {
      trace.vmStarts.push(vm)
      await slots.snapshot(async () => {
        trace.snapshotStarts.push({ vm, at: clock.now() })
        await delay(clock, SNAPSHOT_MS)
      })
      if (options.mode === 'delta') {
        await Promise.all(
          Array.from({ length: disksOf(vm) }, (_, disk) => slots.exportDisk(() => delay(clock, exportMs(vm, disk)))),
        )
      } else {
        await slots.exportVm(() => delay(clock, exportMs(vm, 0)))
      }
    }
    const done = Promise.all(Array.from({ length: options.vms }, (_, vm) => vmLimiter.run(() => backupVm(vm))))
    let finished = false
    void done.then(() => {
      finished = true
    })
    while (!finished) await clock.advance(1_000)
    return { trace, pool, vmLimiter }
  }

  it('with every VM at once: snapshots two at a time back to back, in VM order, never waiting for exports', async () => {
    const { trace, pool, vmLimiter } = await simulate({ vms: 50, concurrency: 0, mode: 'delta' })
    expect(vmLimiter.peak).toBe(50)
    expect(pool.snapshot.peak).toBe(2)
    expect(pool.vdiExport.peak).toBe(12)
    expect(trace.snapshotStarts.map(({ vm }) => vm)).toEqual(Array.from({ length: 50 }, (_, vm) => vm))
    // Simulated time: snapshot k starts as soon as the two before it are done.
    expect(trace.snapshotStarts.map(({ at }) => at)).toEqual(
      Array.from({ length: 50 }, (_, k) => Math.floor(k / 2) * SNAPSHOT_MS),
    )
  })

  it('with a VM concurrency of 10: ten VMs at a time, started in order, every limit respected', async () => {
    const { trace, pool, vmLimiter } = await simulate({ vms: 50, concurrency: 10, mode: 'delta' })
    expect(vmLimiter.peak).toBe(10)
    expect(pool.snapshot.peak).toBe(2)
    expect(pool.vdiExport.peak).toBeLessThanOrEqual(12)
    expect(trace.vmStarts).toEqual(Array.from({ length: 50 }, (_, vm) => vm))
    expect(trace.snapshotStarts.map(({ vm }) => vm)).toEqual(Array.from({ length: 50 }, (_, vm) => vm))
  })

  it('in full mode: two XVA exports at a time per pool', async () => {
    const { pool } = await simulate({ vms: 50, concurrency: 0, mode: 'full' })
    expect(pool.xvaExport.peak).toBe(2)
    expect(pool.vdiExport.peak).toBe(0)
    expect(pool.snapshot.peak).toBe(2)
  })

  it('counts two jobs on the same pool against the same limits', async () => {
    const shared = new PoolLimiters()
    const [a, b] = await Promise.all([
      simulate({ vms: 25, concurrency: 0, mode: 'delta', pool: shared }),
      simulate({ vms: 25, concurrency: 5, mode: 'full', pool: shared }),
    ])
    expect(a.pool).toBe(b.pool)
    expect(a.pool.snapshot.peak).toBe(2)
    expect(a.pool.vdiExport.peak).toBeLessThanOrEqual(12)
    expect(a.pool.xvaExport.peak).toBeLessThanOrEqual(2)
  })
})
