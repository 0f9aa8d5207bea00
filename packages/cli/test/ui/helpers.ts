import { expect } from 'vitest';
import { UI_API_ROUTES, UiApiError } from '../../src/ui/index';

export const get = (path: string, query = '') => UI_API_ROUTES[path]!.GET!(new URLSearchParams(query));
export const post = (path: string, body: unknown) => UI_API_ROUTES[path]!.POST!(body);

/** The handler refuses with this status, naming this field, with a message matching `message`. */
export async function refuses(
  call: Promise<unknown>,
  status: number,
  param: string | null,
  message: RegExp,
): Promise<void> {
  const e = await call.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'expected the handler to refuse').toBeInstanceOf(UiApiError);
  const err = e as UiApiError;
  expect({ status: err.status, param: err.param }).toEqual({ status, param });
  expect(err.message).toMatch(message);
}
