import type { Xapi } from 'xen-api'

/**
 * Tags on VMs, one at a time with `VM.add_tags` / `VM.remove_tags`: each call changes one tag atomically in
 * XAPI, so tags that other tools (or people) set at the same moment are never overwritten, as a
 * read-modify-`set_tags` would. Adding a present tag and removing an absent one succeed.
 */

export async function vmRefByUuid(xapi: Xapi, uuid: string): Promise<string> {
  return xapi.call<string>('VM.get_by_uuid', uuid)
}

export async function vmTags(xapi: Xapi, vmRef: string): Promise<string[]> {
  return xapi.call<string[]>('VM.get_tags', vmRef)
}

export async function addVmTag(xapi: Xapi, vmRef: string, tag: string): Promise<void> {
  await xapi.call('VM.add_tags', vmRef, tag)
}

export async function removeVmTag(xapi: Xapi, vmRef: string, tag: string): Promise<void> {
  await xapi.call('VM.remove_tags', vmRef, tag)
}
