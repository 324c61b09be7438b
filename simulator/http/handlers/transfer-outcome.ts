import type { ServerResponse } from 'node:http'
import { TransferFault } from './transfer-faults'
import { cutConnection, endResponse, errorResponseInBody, sendErrorStatus } from './xapi-responses'

/**
 * What the client sees of a failed transfer: a reset connection for a cut; otherwise XAPI's 500 page,
 * as the response when no status was sent yet, else written into the body of the 200, then the end of
 * the connection.
 */
export async function endFailedTransfer(response: ServerResponse, failure: unknown): Promise<void> {
  if (response.destroyed || response.writableEnded) return
  if (failure instanceof TransferFault && failure.kind === 'cut') {
    cutConnection(response)
    return
  }
  const detail =
    failure instanceof TransferFault
      ? failure.error.message
      : failure instanceof Error
        ? failure.message
        : String(failure)
  if (!response.headersSent) {
    sendErrorStatus(response, 500, detail)
    return
  }
  await endResponse(response, errorResponseInBody(detail))
}
