import type { StorageLink } from '../../integration/storage-link'
import type { HttpRouter } from '../router'
import { EXPORT_RAW_VDI_PATH, exportRawVdiHandler } from './export-raw-vdi'
import { EXPORT_PATH, exportXvaHandler } from './export-xva'
import { IMPORT_RAW_VDI_PATH, importRawVdiHandler } from './import-raw-vdi'
import { IMPORT_PATH, importXvaHandler } from './import-xva'

/** XAPI's disk transfer handlers; the router's longest prefix sends `/export_raw_vdi/` to its own. */
export function registerDiskHandlers(router: HttpRouter, link: StorageLink): void {
  router.register('GET', EXPORT_RAW_VDI_PATH, exportRawVdiHandler(link))
  router.register('PUT', IMPORT_RAW_VDI_PATH, importRawVdiHandler(link))
  router.register('GET', EXPORT_PATH, exportXvaHandler(link))
  router.register('PUT', IMPORT_PATH, importXvaHandler(link))
}
