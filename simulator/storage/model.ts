import { ExtentMap } from './extent-map'
import {
  type Allocation,
  type Attachment,
  type CbtRecord,
  type GcRecord,
  SR_STATE_FORMAT,
  type SrFamily,
  type SrRecord,
  type SrType,
  srFamily,
  type VdiOrigin,
} from './schema'

/**
 * The in-memory truth of one SR: its VHD trees and the VDIs SM knows. Only this module changes the
 * parent/child and VDI indexes, so they cannot drift from the nodes.
 */

export class VhdNode {
  constructor(
    readonly vhd: string,
    public vdi: string,
    public parent: string | null,
    public hidden: boolean,
    readonly raw: boolean,
    public virtualSize: number,
    public blocks: ExtentMap,
    public lvSize: number | undefined,
  ) {}
}

export class VdiEntry {
  constructor(
    readonly uuid: string,
    public origin: VdiOrigin,
    public snapshotOf: string | undefined,
    public cbt: CbtRecord | null,
    public attachments: Attachment[],
    public gcNoSpace: string | undefined,
    public dataDestroyedSize: number | undefined,
  ) {}
}

export class SrModel {
  readonly family: SrFamily
  private readonly nodes = new Map<string, VhdNode>()
  private readonly childIndex = new Map<string, Set<string>>()
  private readonly vdiIndex = new Map<string, VhdNode>()
  private readonly entries = new Map<string, VdiEntry>()

  constructor(
    readonly uuid: string,
    readonly type: SrType,
    readonly physicalSize: number,
    readonly allocation: Allocation,
    public gc: GcRecord,
  ) {
    this.family = srFamily(type)
  }

  static empty(uuid: string, type: SrType, physicalSize: number, allocation: Allocation): SrModel {
    return new SrModel(uuid, type, physicalSize, allocation, {
      frozen: false,
      pending: false,
      quietUntil: null,
      bootInitDone: false,
      inProgress: null,
      speeds: [],
      lastCoalesceErrorAt: null,
      noSpaceMessage: null,
    })
  }

  static fromRecord(record: SrRecord): SrModel {
    const model = new SrModel(
      record.uuid,
      record.type,
      record.physicalSize,
      record.allocation,
      structuredClone(record.gc),
    )
    for (const v of record.vdis) {
      model.addVdi(
        new VdiEntry(
          v.uuid,
          v.origin,
          v.snapshotOf,
          v.cbt === null ? null : { ...v.cbt },
          v.attachments.map((a) => ({ ...a })),
          v.gcNoSpace,
          v.dataDestroyedSize,
        ),
      )
    }
    // Parents first, so that `addNode` can check every parent exists.
    const pending = new Map(record.nodes.map((n) => [n.vhd, n]))
    const add = (vhd: string, trail: Set<string>): void => {
      const n = pending.get(vhd)
      if (n === undefined) return
      if (trail.has(vhd)) throw new Error(`SR ${record.uuid}: VHD ${vhd} is its own ancestor`)
      trail.add(vhd)
      if (n.parent !== null) {
        if (!pending.has(n.parent) && !model.nodes.has(n.parent)) {
          throw new Error(`SR ${record.uuid}: VHD ${vhd} names a parent ${n.parent} that does not exist`)
        }
        add(n.parent, trail)
      }
      pending.delete(vhd)
      model.addNode(
        new VhdNode(n.vhd, n.vdi, n.parent, n.hidden, n.raw, n.virtualSize, ExtentMap.fromFlat(n.blocks), n.lvSize),
      )
    }
    for (const vhd of [...pending.keys()]) add(vhd, new Set())
    return model
  }

  toRecord(): SrRecord {
    return {
      format: SR_STATE_FORMAT,
      version: 1,
      uuid: this.uuid,
      type: this.type,
      physicalSize: this.physicalSize,
      allocation: this.allocation,
      nodes: [...this.nodes.values()].map((n) => ({
        vhd: n.vhd,
        vdi: n.vdi,
        parent: n.parent,
        hidden: n.hidden,
        raw: n.raw,
        virtualSize: n.virtualSize,
        blocks: n.blocks.toFlat(),
        ...(n.lvSize === undefined ? {} : { lvSize: n.lvSize }),
      })),
      vdis: [...this.entries.values()].map((v) => ({
        uuid: v.uuid,
        origin: v.origin,
        ...(v.snapshotOf === undefined ? {} : { snapshotOf: v.snapshotOf }),
        cbt: v.cbt === null ? null : { ...v.cbt },
        attachments: v.attachments.map((a) => ({ ...a })),
        ...(v.gcNoSpace === undefined ? {} : { gcNoSpace: v.gcNoSpace }),
        ...(v.dataDestroyedSize === undefined ? {} : { dataDestroyedSize: v.dataDestroyedSize }),
      })),
      gc: structuredClone(this.gc),
    }
  }

  // --- VDIs -------------------------------------------------------------------------------------

  vdi(uuid: string): VdiEntry | undefined {
    return this.entries.get(uuid)
  }

  allVdis(): IterableIterator<VdiEntry> {
    return this.entries.values()
  }

  addVdi(entry: VdiEntry): void {
    if (this.entries.has(entry.uuid)) throw new Error(`VDI ${entry.uuid} already exists in SR ${this.uuid}`)
    this.entries.set(entry.uuid, entry)
  }

  /** Forgets a VDI; its node (if any) must already be gone or belong to another VDI. */
  removeVdi(uuid: string): void {
    if (this.vdiIndex.has(uuid)) throw new Error(`VDI ${uuid} still has a VHD in SR ${this.uuid}`)
    this.entries.delete(uuid)
  }

  // --- nodes ------------------------------------------------------------------------------------

  node(vhd: string): VhdNode | undefined {
    return this.nodes.get(vhd)
  }

  allNodes(): IterableIterator<VhdNode> {
    return this.nodes.values()
  }

  nodeCount(): number {
    return this.nodes.size
  }

  nodeOf(vdi: string): VhdNode | undefined {
    return this.vdiIndex.get(vdi)
  }

  addNode(node: VhdNode): void {
    if (this.nodes.has(node.vhd)) throw new Error(`VHD ${node.vhd} already exists in SR ${this.uuid}`)
    if (node.parent !== null && !this.nodes.has(node.parent)) throw new Error(`parent VHD ${node.parent} is missing`)
    if (this.vdiIndex.has(node.vdi)) throw new Error(`VDI ${node.vdi} already has a VHD`)
    if (!this.entries.has(node.vdi)) throw new Error(`VHD ${node.vhd} belongs to an unknown VDI ${node.vdi}`)
    this.nodes.set(node.vhd, node)
    this.vdiIndex.set(node.vdi, node)
    if (node.parent !== null) this.childSet(node.parent).add(node.vhd)
  }

  /** Removes a node that has no children (a leaf, or garbage). */
  removeNode(node: VhdNode): void {
    if (this.children(node).length > 0) throw new Error(`VHD ${node.vhd} still has children`)
    this.nodes.delete(node.vhd)
    this.childIndex.delete(node.vhd)
    if (this.vdiIndex.get(node.vdi) === node) this.vdiIndex.delete(node.vdi)
    if (node.parent !== null) this.childIndex.get(node.parent)?.delete(node.vhd)
  }

  setParent(node: VhdNode, parent: VhdNode | null): void {
    if (node.parent !== null) this.childIndex.get(node.parent)?.delete(node.vhd)
    node.parent = parent === null ? null : parent.vhd
    if (parent !== null) this.childSet(parent.vhd).add(node.vhd)
  }

  /** Makes `node` the storage of VDI `vdi` (a base copy gets a new uuid; a leaf-coalesce hands one over). */
  setVdi(node: VhdNode, vdi: string): void {
    if (this.vdiIndex.get(node.vdi) === node) this.vdiIndex.delete(node.vdi)
    const holder = this.vdiIndex.get(vdi)
    if (holder !== undefined && holder !== node) throw new Error(`VDI ${vdi} already has VHD ${holder.vhd}`)
    node.vdi = vdi
    this.vdiIndex.set(vdi, node)
  }

  parentOf(node: VhdNode): VhdNode | undefined {
    return node.parent === null ? undefined : this.nodes.get(node.parent)
  }

  children(node: VhdNode): VhdNode[] {
    const set = this.childIndex.get(node.vhd)
    return set === undefined ? [] : [...set].map((vhd) => this.nodes.get(vhd)!)
  }

  /** Leaf to root. */
  chain(node: VhdNode): VhdNode[] {
    const chain: VhdNode[] = []
    for (let n: VhdNode | undefined = node; n !== undefined; n = this.parentOf(n)) chain.push(n)
    return chain
  }

  /** `vhd_chain_depth`: VHD files from this one to the root, inclusive (a fresh disk is 1). */
  depth(node: VhdNode): number {
    return this.chain(node).length
  }

  root(node: VhdNode): VhdNode {
    const chain = this.chain(node)
    return chain[chain.length - 1]!
  }

  /** Height of the subtree rooted at `node` (a lone node is 1), as `cleanup.py getTreeHeight`. */
  height(node: VhdNode): number {
    let max = 0
    for (const child of this.children(node)) max = Math.max(max, this.height(child))
    return max + 1
  }

  private childSet(vhd: string): Set<string> {
    let set = this.childIndex.get(vhd)
    if (set === undefined) {
      set = new Set()
      this.childIndex.set(vhd, set)
    }
    return set
  }
}
