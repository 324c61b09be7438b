import { describe, expect, it } from 'vitest'
import {
  assertHealthyVdiChain,
  assertHealthyVdiChains,
  chainFactsOf,
  needsCoalesceWarning,
  UnhealthyVdiChainError,
  uncoalescedAncestors,
  type VdiChainFacts,
  vdiChainsInfo,
} from '../../../simulator/storage/health'

const SR = 'sr'
const base = (uuid: string, vhdParent?: string): VdiChainFacts => ({ uuid, sr: SR, managed: false, vhdParent })
const leaf = (uuid: string, vhdParent?: string, isASnapshot = false): VdiChainFacts => ({
  uuid,
  sr: SR,
  managed: true,
  vhdParent,
  isASnapshot,
})

describe("XO's backup guard (VDI chain protection)", () => {
  // R <- B1 <- B2 <- {A, S}: R and B1 each have a single unmanaged child, two pending coalesces.
  const chain = [base('R'), base('B1', 'R'), base('B2', 'B1'), leaf('A', 'B2'), leaf('S', 'B2', true)]

  it('counts base copies whose only child is another base copy', () => {
    expect(uncoalescedAncestors('A', chain)).toEqual(['B1', 'R'])
    expect(() => assertHealthyVdiChain('A', chain)).toThrow(UnhealthyVdiChainError)
    expect(() => assertHealthyVdiChain('A', chain)).toThrow('unhealthy VDI chain')
    expect(() => assertHealthyVdiChain('A', chain, 2)).not.toThrow()
    expect(() =>
      assertHealthyVdiChain(
        'A',
        chain.slice(1).map((v) => (v.uuid === 'B1' ? base('B1') : v)),
      ),
    ).not.toThrow()
  })

  it('tolerates a base copy whose only child is the managed leaf (a pending leaf coalesce)', () => {
    const vdis = [base('R'), base('B1', 'R'), leaf('A', 'B1')]
    expect(uncoalescedAncestors('A', vdis)).toEqual(['R'])
    expect(() => assertHealthyVdiChain('A', vdis)).not.toThrow()
    expect(() => assertHealthyVdiChain('A', vdis, 0)).toThrow('unhealthy VDI chain')
  })

  it('stops at an ancestor it cannot find and checks each disk with a fresh tolerance', () => {
    expect(uncoalescedAncestors('A', [base('B1', 'gone'), base('B2', 'B1'), leaf('A', 'B2')])).toEqual(['B1'])
    const twoDisks = [base('R'), base('B1', 'R'), leaf('A', 'B1'), base('Q'), base('C1', 'Q'), leaf('C', 'C1')]
    expect(() => assertHealthyVdiChains(['A', 'C', 'A'], twoDisks)).not.toThrow()
    expect(() =>
      assertHealthyVdiChains(
        ['A', 'C'],
        [...twoDisks.filter((v) => v.uuid !== 'C'), base('C2', 'C1'), leaf('C', 'C2')],
      ),
    ).toThrow('unhealthy VDI chain')
  })
})

describe("XO's SR view of VDIs to coalesce", () => {
  it('counts single-child nodes along each managed non-snapshot VDI', () => {
    const info = vdiChainsInfo([base('R'), base('B', 'R'), leaf('A', 'B'), leaf('S', 'B', true)])
    expect(info).toEqual({ unhealthyVdis: { A: 1 }, vdisWithUnknownVhdParent: {}, nUnhealthyVdis: 1 })
  })

  it('reports VDIs whose vhd-parent is unknown', () => {
    const info = vdiChainsInfo([leaf('A', 'missing')])
    expect(info.vdisWithUnknownVhdParent).toEqual({ A: 'missing' })
    expect(info.unhealthyVdis).toEqual({ A: 1 })
  })

  it("reproduces XO's shared per-tree counter: a later branch includes an earlier branch's count", () => {
    // R <- {X1 <- L1, X2 <- L2}: each leaf really has one single-child ancestor, XO shows 1 then 2.
    const info = vdiChainsInfo([base('R'), base('X1', 'R'), base('X2', 'R'), leaf('L1', 'X1'), leaf('L2', 'X2')])
    expect(info.unhealthyVdis).toEqual({ L1: 1, L2: 2 })
    expect(info.nUnhealthyVdis).toBe(2)
  })

  it('warns from ten listed VDIs', () => {
    const vdis: VdiChainFacts[] = []
    for (let i = 0; i < 10; i++) vdis.push(base(`R${i}`), leaf(`L${i}`, `R${i}`))
    expect(needsCoalesceWarning(vdiChainsInfo(vdis))).toBe(true)
    expect(needsCoalesceWarning(vdiChainsInfo(vdis.slice(2)))).toBe(false)
  })

  it('reads facts from engine facts and from XAPI records alike', () => {
    expect(chainFactsOf({ uuid: 'a', sr: SR, managed: false, smConfig: { 'vhd-parent': 'p' } })).toEqual({
      uuid: 'a',
      sr: SR,
      managed: false,
      vhdParent: 'p',
    })
    expect(chainFactsOf({ uuid: 'a', sr: SR, managed: true, sm_config: {}, isASnapshot: true }).isASnapshot).toBe(true)
  })
})
