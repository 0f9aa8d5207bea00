/** Bad input to a dashboard API route (or, 503, one it cannot take now): the HTTP status, what was wrong, its field. */
export class UiApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413 | 503,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'UiApiError';
  }
}
