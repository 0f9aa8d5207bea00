/** Bad input to a dashboard API route: the HTTP status, what was wrong and the field it was in. */
export class UiApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'UiApiError';
  }
}
