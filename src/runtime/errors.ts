/** Thrown by a handler to skip the remaining retries: the event goes straight to the dead letters. */
export class NonRetriableError extends Error {
  override name = 'NonRetriableError';
}
